"""Faster R-CNN Inception-ResNet-v2 atrous (Open Model Zoo public, TF Object Detection API) on OpenVINO."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.detector import DetectorRequest
from common.image import to_array
from common.labels import load_function_config
from common.openvino_model import compile_model, detection_rows, nhwc_input, nhwc_size
from common.shapes import Item, rectangle
from common.weights import weights_path


class ModelHandler:
    """``image_tensor`` (BGR, NHWC) + ``image_info`` in, DetectionOutput rows (COCO 91-ids) out."""

    default_threshold = 0.5

    def __init__(self) -> None:
        self.config = load_function_config(Path(__file__).parent)
        self.names = self.config.names_by_id()
        path = weights_path("FASTER_RCNN_MODEL", "/opt/nuclio/omz/faster_rcnn_inception_resnet_v2_atrous_coco.xml")
        self.model = compile_model(path)
        self.fixed_input_size = nhwc_size(self.model)  # resized to it: JPEGs are decoded reduced

    def infer(self, request: DetectorRequest) -> list[Item]:
        rgb = to_array(request.image)
        height, width = rgb.shape[:2]
        image = nhwc_input(rgb, self.model)
        info = np.array([[image.shape[1], image.shape[2], 1]], dtype=np.float32)
        output = self.model({"image_tensor": image, "image_info": info})[self.model.output(0)]
        items = []
        for label, confidence, (x0, y0, x1, y1) in detection_rows(output, request.threshold):
            name = self.names.get(label)
            box = np.clip([x0 * width, y0 * height, x1 * width, y1 * height], 0, [width - 1, height - 1] * 2)
            if name is not None and box[2] > box[0] and box[3] > box[1]:
                items.append(rectangle(name, box, confidence=confidence))
        return items
