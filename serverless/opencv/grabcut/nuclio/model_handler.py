"""GrabCut interactor: a box and/or clicks → object mask, with OpenCV only (no weights)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import cv2
import numpy as np

from common.image import to_array
from common.interactor import InteractorRequest, InteractorRules
from common.labels import load_function_config

ITERATIONS = 5
MAX_SIDE = 640
CLICK_RADIUS = 4
CLICK_PADDING = 0.5
MIN_PADDING = 0.15


def _initial_rect(request: InteractorRequest, width: int, height: int) -> tuple[int, int, int, int]:
    """The GrabCut rectangle: the box, else the positive clicks' bbox, padded generously.

    Clicks usually sit well inside the object, so the padding is half the clicks' extent and
    at least 15 % of the image's long side.
    """
    if request.obj_bbox is not None:
        x1, y1, x2, y2 = request.obj_bbox
    else:
        (x1, y1), (x2, y2) = request.pos_points.min(axis=0), request.pos_points.max(axis=0)
        minimum = MIN_PADDING * max(width, height)
        pad_x = max(minimum, (x2 - x1) * CLICK_PADDING)
        pad_y = max(minimum, (y2 - y1) * CLICK_PADDING)
        x1, y1, x2, y2 = x1 - pad_x, y1 - pad_y, x2 + pad_x, y2 + pad_y
    x1, y1 = max(0, int(x1)), max(0, int(y1))
    x2, y2 = min(width - 1, int(np.ceil(x2))), min(height - 1, int(np.ceil(y2)))
    return x1, y1, max(1, x2 - x1), max(1, y2 - y1)


class ModelHandler:
    """Segments the object inside the box (or around the clicks); clicks pin pixels to fg/bg."""

    def __init__(self) -> None:
        self.config = load_function_config(Path(__file__).parent)
        self.rules = InteractorRules.from_config(self.config)

    def infer(self, request: InteractorRequest) -> np.ndarray:
        image = cv2.cvtColor(to_array(request.image), cv2.COLOR_RGB2BGR)
        height, width = image.shape[:2]
        # GrabCut is O(pixels × iterations): work on a downscaled copy and upscale the mask.
        scale = min(1.0, MAX_SIDE / max(height, width))
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
        rect = tuple(int(v * scale) for v in _initial_rect(request, width, height))
        mask = np.zeros(small.shape[:2], np.uint8)
        x, y, w, h = rect
        mask[y : y + h + 1, x : x + w + 1] = cv2.GC_PR_FGD
        for points, value in ((request.pos_points, cv2.GC_FGD), (request.neg_points, cv2.GC_BGD)):
            for px, py in points * scale:
                cv2.circle(mask, (int(px), int(py)), CLICK_RADIUS, int(value), -1)
        background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        # GrabCut needs both fg and bg samples; without them the rectangle stays the answer.
        with contextlib.suppress(cv2.error):
            cv2.grabCut(small, mask, None, background, foreground, ITERATIONS, cv2.GC_INIT_WITH_MASK)
        result = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
        if scale < 1:
            result = cv2.resize(result, (width, height), interpolation=cv2.INTER_NEAREST)
        return result.astype(bool)
