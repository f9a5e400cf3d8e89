"""Mask R-CNN Inception-ResNet-v2 atrous (Open Model Zoo public, TF Object Detection API) on OpenVINO."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from common.detector import DetectorRequest
from common.image import to_array
from common.labels import load_function_config
from common.openvino_model import compile_model, detection_rows, nhwc_input, nhwc_size
from common.shapes import Item, mask
from common.weights import weights_path

MASK_THRESHOLD = 0.5


def paste_mask(class_mask: np.ndarray, box: np.ndarray, height: int, width: int) -> np.ndarray:
    """A 33×33 class heatmap resized into its pixel box of an H×W image, thresholded at 0.5."""
    x0, y0, x1, y1 = (round(float(v)) for v in box)
    full = np.zeros((height, width), dtype=bool)
    if x1 <= x0 or y1 <= y0:
        return full
    resized = cv2.resize(np.asarray(class_mask, np.float32), (x1 - x0 + 1, y1 - y0 + 1), interpolation=cv2.INTER_LINEAR)
    full[y0 : y1 + 1, x0 : x1 + 1] = resized > MASK_THRESHOLD
    return full


class ModelHandler:
    """DetectionOutput rows plus per-class 33×33 masks (class = label - 1) → CVAT masks with polygons."""

    default_threshold = 0.5

    def __init__(self) -> None:
        self.config = load_function_config(Path(__file__).parent)
        self.names = self.config.names_by_id()
        path = weights_path("MASK_RCNN_MODEL", "/opt/nuclio/omz/mask_rcnn_inception_resnet_v2_atrous_coco.xml")
        self.model = compile_model(path)
        self.fixed_input_size = nhwc_size(self.model)  # resized to it: JPEGs are decoded reduced
        # Outputs by shape: the N×7 DetectionOutput rows and the N×90×33×33 masks.
        by_rank = {len(output.get_partial_shape()): output for output in self.model.outputs}
        self.boxes, self.masks = by_rank[2], by_rank[4]

    def infer(self, request: DetectorRequest) -> list[Item]:
        rgb = to_array(request.image)
        height, width = rgb.shape[:2]
        image = nhwc_input(rgb, self.model)
        info = np.array([[image.shape[1], image.shape[2], 1]], dtype=np.float32)
        results = self.model({"image_tensor": image, "image_info": info})
        masks = results[self.masks]
        items = []
        for index, (label, confidence, (x0, y0, x1, y1)) in enumerate(
            detection_rows(results[self.boxes], request.threshold)
        ):
            name = self.names.get(label)
            box = np.clip([x0 * width, y0 * height, x1 * width, y1 * height], 0, [width - 1, height - 1] * 2)
            if name is None or not 1 <= label <= masks.shape[1]:
                continue
            item = mask(name, paste_mask(masks[index, label - 1], box, height, width), confidence=confidence)
            if item is not None:
                items.append(item)
        return items
