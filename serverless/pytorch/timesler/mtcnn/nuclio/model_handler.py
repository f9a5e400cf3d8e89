"""MTCNN face detector on the weights facenet-pytorch ships (pnet/rnet/onet inside the wheel)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.detector import DetectorRequest
from common.devices import torch_device
from common.image import to_array
from common.labels import load_function_config
from common.shapes import Item, rectangle

MIN_FACE_SIZE = 20


class ModelHandler:
    """Finds faces; one ``face`` rectangle per detection with its probability."""

    default_threshold = 0.9

    def __init__(self) -> None:
        from facenet_pytorch import MTCNN

        self.config = load_function_config(Path(__file__).parent)
        self.label = self.config.labels[0].name
        self.model = MTCNN(keep_all=True, min_face_size=MIN_FACE_SIZE, device=torch_device())

    def infer(self, request: DetectorRequest) -> list[Item]:
        image = to_array(request.image)
        height, width = image.shape[:2]
        # MTCNN's image pyramid is empty below the minimum face size (torch.cat on nothing fails).
        if min(height, width) < MIN_FACE_SIZE:
            return []
        boxes, scores = self.model.detect(image)
        if boxes is None:
            return []
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)  # an object array under numpy 2
        boxes = np.clip(boxes, 0, [width - 1, height - 1, width - 1, height - 1])
        return [
            rectangle(self.label, box, confidence=float(score))
            for box, score in zip(boxes, np.asarray(scores, dtype=np.float64).ravel(), strict=True)
            if score >= request.threshold
        ]
