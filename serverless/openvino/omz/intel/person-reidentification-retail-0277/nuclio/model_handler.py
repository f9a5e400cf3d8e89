"""person-reidentification-retail-0277 on the current OpenVINO API: 256-d embeddings of box crops."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from common.image import crop_boxes, to_array
from common.labels import load_function_config
from common.matching import match_request
from common.openvino_model import compile_model
from common.reid import ReidRequest
from common.weights import weights_path

MODEL_ENV = "REID_MODEL"
DEFAULT_MODEL = "/opt/nuclio/omz/person-reidentification-retail-0277.xml"


class ModelHandler:
    """Input ``data`` 1×3×256×128 BGR (0–255), output ``reid_embedding`` 1×256 (Open Model Zoo docs)."""

    def __init__(self) -> None:
        self.config = load_function_config(Path(__file__).parent)
        self.model = compile_model(weights_path(MODEL_ENV, DEFAULT_MODEL))
        _, _, self.height, self.width = self.model.inputs[0].shape
        self.output = self.model.outputs[0]

    def embed(self, image: Image.Image, boxes: np.ndarray) -> np.ndarray:
        """(N, 256) embeddings, one inference per crop (the published IR has batch 1)."""
        bgr = cv2.cvtColor(to_array(image), cv2.COLOR_RGB2BGR)
        request = self.model.create_infer_request()
        embeddings = []
        for crop in crop_boxes(bgr, boxes):
            tensor = cv2.resize(crop, (int(self.width), int(self.height))).transpose(2, 0, 1)[None].astype(np.float32)
            embeddings.append(request.infer({0: tensor})[self.output].reshape(-1))
        return np.asarray(embeddings, dtype=np.float32).reshape(len(boxes), -1)

    def infer(self, request: ReidRequest) -> list[int]:
        return match_request(request, self.embed)
