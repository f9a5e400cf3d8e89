"""YOLO v3 (Open Model Zoo public yolo-v3-tf, TensorFlow graph converted with ``ovc``) on OpenVINO."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from yolo_region import INPUT_SIZE, decode_region

from common.detector import DetectorRequest
from common.image import to_array
from common.labels import load_function_config
from common.openvino_model import compile_model
from common.shapes import Item, rectangle
from common.weights import weights_path
from common.yolo import nms

NMS_IOU = 0.5  # OMZ accuracy-check.yml: nms overlap 0.5


class ModelHandler:
    """Plain resize to 416×416 RGB in 0..1, three raw region outputs, class-wise NMS, pixel boxes.

    The preprocessing is the one OMZ's accuracy check applies to the original TensorFlow graph
    (``bgr_to_rgb``, ``normalization std 255``, ``resize 416``): ``ovc`` converts that graph as
    it is, without Model Optimizer's ``--reverse_input_channels``/``--scale_values``.
    """

    default_threshold = 0.5
    fixed_input_size = (INPUT_SIZE, INPUT_SIZE)  # every frame is resized to it: JPEGs are decoded reduced

    def __init__(self) -> None:
        self.config = load_function_config(Path(__file__).parent)
        self.names = self.config.names_by_id()
        self.model = compile_model(weights_path("YOLO_V3_MODEL", "/opt/nuclio/omz/yolo-v3-tf.xml"))

    def infer(self, request: DetectorRequest) -> list[Item]:
        rgb = to_array(request.image)
        height, width = rgb.shape[:2]
        batch = cv2.resize(rgb, (INPUT_SIZE, INPUT_SIZE))[None].astype(np.float32) / 255.0
        results = self.model(batch)
        candidates = [c for output in self.model.outputs for c in decode_region(results[output], request.threshold)]
        if not candidates:
            return []
        boxes = np.array([c[:4] for c in candidates], dtype=np.float32) * [width, height, width, height]
        scores = np.array([c[5] for c in candidates], dtype=np.float32)
        classes = np.array([c[4] for c in candidates])
        limits = [width - 1, height - 1, width - 1, height - 1]
        items = []
        for index in nms(boxes, scores, classes, NMS_IOU):
            x0, y0, x1, y1 = boxes[index].clip(0, limits)
            if x1 > x0 and y1 > y0:
                items.append(rectangle(self.names[int(classes[index])], [x0, y0, x1, y1], confidence=scores[index]))
        return items
