"""SAM 2.1 tracker: masks and polygons followed frame by frame; each object's memory lives in the state store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.errors import BadRequest
from common.image import to_array
from common.labels import load_function_config
from common.sam2_model import Sam2Memory, Sam2Settings, Sam2Tracker, build_model
from common.state_store import states_from_env
from common.tracker import TrackerRequest, shape_bitmap, shape_from_bitmap


class ModelHandler:
    """Starts objects from ``shapes``, continues them from ``states`` (opaque signed references)."""

    def __init__(self) -> None:
        self.config = load_function_config(Path(__file__).parent)
        self.tracker = Sam2Tracker(build_model(Sam2Settings.from_env(), video=True))
        self.states = states_from_env(self.config.name)

    def _start(self, pixels: Any, shape: Any, features: Any) -> tuple[Any, Sam2Memory, str]:
        bitmap = shape_bitmap(shape, pixels.shape[:2])
        if not bitmap.any():
            raise BadRequest(f"the {shape.type} to track covers no pixel of the image")
        mask, memory = self.tracker.start(pixels, bitmap, features)
        return mask, memory, shape.type

    def infer(self, request: TrackerRequest) -> tuple[list[Any], list[Any]]:
        import torch

        pixels = to_array(request.image)
        with torch.inference_mode():
            features = self.tracker.features(pixels)  # once per frame, shared by every object
        shapes, states = [], []
        for shape, state in zip(request.shapes, request.states, strict=True):
            if state is None:
                mask, memory, shape_type = self._start(pixels, shape, features)
            else:
                data, arrays = self.states.load(state)
                shape_type = str(data.get("type", "mask"))
                memory = Sam2Memory.from_state(data, arrays, self.tracker.device)
                mask, memory = self.tracker.step(pixels, memory, features)
            data, arrays = memory.to_state()
            states.append(self.states.save({**data, "type": shape_type}, arrays, token=state))
            shapes.append(shape_from_bitmap(mask, shape_type))
        return shapes, states
