"""text-detection-0004 (PixelLink, Open Model Zoo) on the current OpenVINO API: text lines as polygons."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from pixellink import decode

from common.detector import DetectorRequest
from common.image import to_array
from common.labels import load_function_config
from common.openvino_model import compile_model
from common.shapes import Item, polygon
from common.weights import weights_path

MODEL_ENV = "TEXT_DETECTION_MODEL"
DEFAULT_MODEL = "/opt/nuclio/omz/text-detection-0004.xml"
LINK_THRESHOLD = 0.8
MIN_AREA = 10  # pixels of the quarter-resolution map


class ModelHandler:
    """Input ``Placeholder`` 1×768×1280×3 BGR; outputs ``model/link_logits_/add`` and ``model/segm_logits/add``."""

    default_threshold = 0.8  # pixel (text/no-text) probability

    def __init__(self) -> None:
        self.config = load_function_config(Path(__file__).parent)
        self.label = self.config.labels[0].name
        self.model = compile_model(weights_path(MODEL_ENV, DEFAULT_MODEL))
        _, self.height, self.width, _ = (int(v) for v in self.model.inputs[0].shape)
        self.fixed_input_size = (self.width, self.height)  # resized to it: JPEGs are decoded reduced

    def infer(self, request: DetectorRequest) -> list[Item]:
        bgr = cv2.cvtColor(to_array(request.image), cv2.COLOR_RGB2BGR)
        height, width = bgr.shape[:2]
        tensor = cv2.resize(bgr, (self.width, self.height))[None].astype(np.float32)
        outputs = self.model(tensor)
        links = outputs[self.model.output("model/link_logits_/add")][0]
        segments = outputs[self.model.output("model/segm_logits/add")][0]
        scale = (width / segments.shape[1], height / segments.shape[0])
        items = []
        for corners, score in decode(
            segments,
            links,
            pixel_threshold=request.threshold,
            link_threshold=LINK_THRESHOLD,
            min_area=MIN_AREA,
            scale=scale,
        ):
            corners[:, 0] = corners[:, 0].clip(0, width - 1)
            corners[:, 1] = corners[:, 1].clip(0, height - 1)
            items.append(polygon(self.label, corners, confidence=score))
        return items
