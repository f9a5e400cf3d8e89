"""YOLO v3 (Open Model Zoo public yolo-v3-tf, Keras → TF → OpenVINO IR) on the current OpenVINO API."""

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

NMS_IOU = 0.45


class ModelHandler:
    """Plain resize to 416×416 BGR, three region outputs, class-wise NMS, boxes back in pixels."""

    default_threshold = 0.5

    def __init__(self) -> None:
        self.config = load_function_config(Path(__file__).parent)
        self.names = self.config.names_by_id()
        self.model = compile_model(weights_path("YOLO_V3_MODEL", "/opt/nuclio/omz/yolo-v3-tf.xml"))

    def infer(self, request: DetectorRequest) -> list[Item]:
        rgb = to_array(request.image)
        height, width = rgb.shape[:2]
        bgr = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (INPUT_SIZE, INPUT_SIZE))
        results = self.model(bgr[None].astype(np.float32))
        candidates = [c for output in self.model.outputs for c in decode_region(results[output], request.threshold)]
        if not candidates:
            return []
        boxes = np.array([c[:4] for c in candidates], dtype=np.float32) * [width, height, width, height]
        scores = np.array([c[5] for c in candidates], dtype=np.float32)
        classes = np.array([c[4] for c in candidates])
        items = []
        for index in nms(boxes, scores, classes, NMS_IOU):
            x0, y0, x1, y1 = boxes[index].clip(0, [width - 1, height - 1, width - 1, height - 1])
            if x1 > x0 and y1 > y0:
                items.append(rectangle(self.names[int(classes[index])], [x0, y0, x1, y1], confidence=scores[index]))
        return items
