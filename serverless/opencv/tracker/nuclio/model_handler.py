"""A stateless OpenCV tracker: multi-scale template matching, the template travels in a signed state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from common.image import to_array
from common.labels import load_function_config
from common.tracker import TrackerRequest
from common.tracker_state import StateCodec

TEMPLATE_SIDE = 64
SEARCH_MARGIN = 1.0
SCALES = (0.92, 0.96, 1.0, 1.04, 1.08)
MIN_SIDE = 4
Box = list[float]


def _work_scale(box: Box) -> float:
    """Downscale factor so the box's long side is at most TEMPLATE_SIDE pixels (keeps matching cheap)."""
    return min(1.0, TEMPLATE_SIDE / max(box[2] - box[0], box[3] - box[1], 1.0))


def _crop(image: np.ndarray, box: Box, scale: float) -> np.ndarray:
    height, width = image.shape[:2]
    x1, y1 = max(0, round(box[0])), max(0, round(box[1]))
    x2, y2 = min(width, round(box[2]) + 1), min(height, round(box[3]) + 1)
    crop = image[y1:y2, x1:x2]
    size = (max(MIN_SIDE, round(crop.shape[1] * scale)), max(MIN_SIDE, round(crop.shape[0] * scale)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA)


def track(image: np.ndarray, box: Box, template: np.ndarray) -> Box:
    """Find ``template`` (the object at ``box`` in the previous frame) near ``box`` in ``image``."""
    height, width = image.shape[:2]
    box_w, box_h = box[2] - box[0], box[3] - box[1]
    scale = _work_scale(box)
    sx1, sy1 = max(0, round(box[0] - box_w * SEARCH_MARGIN)), max(0, round(box[1] - box_h * SEARCH_MARGIN))
    sx2, sy2 = min(width - 1.0, box[2] + box_w * SEARCH_MARGIN), min(height - 1.0, box[3] + box_h * SEARCH_MARGIN)
    search = _crop(image, [sx1, sy1, sx2, sy2], scale)
    best: tuple[float, Box] | None = None
    for factor in SCALES:
        size = (max(MIN_SIDE, round(template.shape[1] * factor)), max(MIN_SIDE, round(template.shape[0] * factor)))
        if size[0] > search.shape[1] or size[1] > search.shape[0]:
            continue
        scores = cv2.matchTemplate(search, cv2.resize(template, size), cv2.TM_CCOEFF_NORMED)
        _, score, _, (left, top) = cv2.minMaxLoc(scores)
        if best is None or score > best[0]:
            x1, y1 = sx1 + left / scale, sy1 + top / scale
            best = (score, [x1, y1, x1 + box_w * factor, y1 + box_h * factor])
    if best is None:
        return box
    x1, y1, x2, y2 = best[1]
    return [max(0.0, x1), max(0.0, y1), min(width - 1.0, x2), min(height - 1.0, y2)]


class ModelHandler:
    """Legacy rectangle tracker: start with boxes, continue with states."""

    def __init__(self) -> None:
        self.config = load_function_config(Path(__file__).parent)
        self.codec = StateCodec.from_env(self.config.name)

    def _state(self, image: np.ndarray, box: Box) -> str:
        return self.codec.encode({"box": box}, {"template": _crop(image, box, _work_scale(box))})

    def infer(self, request: TrackerRequest) -> tuple[list[Any], list[Any]]:
        image = cv2.cvtColor(to_array(request.image), cv2.COLOR_RGB2BGR)
        shapes, states = [], []
        for shape, state in zip(request.shapes, request.states, strict=True):
            if state is None and shape is not None:
                box = [float(v) for v in shape.points[:4]]
            else:
                data, arrays = self.codec.decode(state)
                box = track(image, [float(v) for v in data["box"]], arrays["template"])
            shapes.append(box)
            states.append(self._state(image, box))
        return shapes, states
