"""SAM 2.1 tracker: rectangles, masks and polygons followed frame by frame; memory lives in the state store.

A rectangle prompts SAM2 with the box, the object's mask is tracked, and the answer is the mask's box
(CVAT's Trackers tab offers only trackers that take rectangles). When the mask vanishes, a rectangle
stays where it was last seen (CVAT's UI maps every answer to a box and cannot take a null one);
masks and polygons answer None then.

The image features of the last frames are kept (``SAM2_TRACKER_FRAMES``, default 2, about 21 MB each): when
a user adds or corrects an object while others are tracked, CVAT starts it on the previous frame, which the
last call has just encoded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from common.embedding_cache import EmbeddingCache, image_key
from common.errors import BadRequest
from common.image import to_array
from common.labels import load_function_config
from common.sam2_model import Sam2Memory, Sam2Settings, Sam2Tracker, build_model
from common.state_store import states_from_env
from common.tracker import TrackerRequest, bounding_box, shape_bitmap, shape_from_bitmap

FRAMES_ENV = "SAM2_TRACKER_FRAMES"


class ModelHandler:
    """Starts objects from ``shapes``, continues them from ``states`` (opaque signed references)."""

    def __init__(self) -> None:
        self.config = load_function_config(Path(__file__).parent)
        self.tracker = Sam2Tracker(build_model(Sam2Settings.from_env(), video=True))
        self.states = states_from_env(self.config.name)
        self.frames: EmbeddingCache[tuple[Any, Any, Any]] = EmbeddingCache(
            max_entries=int(os.environ.get(FRAMES_ENV, "2")),
            size_of=lambda features: sum(t.numel() * t.element_size() for t in [*features[0], *features[1]]),
        )

    def _start(self, pixels: Any, shape: Any, features: Any) -> tuple[Any, Sam2Memory]:
        if shape.type == "rectangle":
            height, width = pixels.shape[:2]
            x1, y1, x2, y2 = bounding_box(shape.points[:4], width, height)
            if x2 - x1 < 1 or y2 - y1 < 1:
                raise BadRequest("the rectangle to track covers no pixel of the image")
            return self.tracker.start(pixels, features=features, box=(x1, y1, x2, y2))
        bitmap = shape_bitmap(shape, pixels.shape[:2])
        if not bitmap.any():
            raise BadRequest(f"the {shape.type} to track covers no pixel of the image")
        return self.tracker.start(pixels, bitmap, features)

    def infer(self, request: TrackerRequest) -> tuple[list[Any], list[Any]]:
        import torch

        pixels = to_array(request.image)
        continued = [index for index, state in enumerate(request.states) if state is not None]
        loaded = {index: self.states.load(request.states[index]) for index in continued}
        with torch.inference_mode():
            features = self.frames.get_or_compute(image_key(pixels), lambda: self.tracker.features(pixels))
            stepped = {
                index: self.tracker.step(pixels, Sam2Memory.from_state(*loaded[index], self.tracker.device), features)
                for index in continued
            }
        shapes, states = [], []
        for index, (shape, state) in enumerate(zip(request.shapes, request.states, strict=True)):
            if state is None:
                mask, memory = self._start(pixels, shape, features)
                shape_type, last_box = shape.type, list(shape.points[:4]) if shape.type == "rectangle" else None
            else:
                data = loaded[index][0]
                shape_type, last_box = str(data.get("type", "mask")), data.get("box")
                mask, memory = stepped[index]
            answer = shape_from_bitmap(mask, shape_type)
            if shape_type == "rectangle":
                answer = answer or {"type": "rectangle", "points": last_box}
                last_box = answer["points"]
            data, arrays = memory.to_state()
            states.append(self.states.save({**data, "type": shape_type, "box": last_box}, arrays, token=state))
            shapes.append(answer)
        return shapes, states
