"""Bring-your-own ultralytics YOLO (v8/v11 detect or segment) exported to ONNX, run with onnxruntime.

A segment export (a second output with mask prototypes) answers masks: give its labels the type
``mask`` in the yaml spec.
"""

from __future__ import annotations

import os
from pathlib import Path

from common.detector import DetectorRequest
from common.devices import onnx_session
from common.image import to_array
from common.labels import load_function_config
from common.shapes import Item, mask, rectangle
from common.weights import weights_path
from common.yolo import Letterbox, decode_ultralytics, decode_ultralytics_segment, letterbox, to_nchw

MODEL_ENV = "YOLO_MODEL"
DEFAULT_MODEL = Path(__file__).parent / "model.onnx"  # /opt/nuclio/model.onnx in the image
SIZE_ENV = "YOLO_INPUT_SIZE"
IOU_THRESHOLD = 0.45


class ModelHandler:
    """One rectangle per detection; class ids map to names through the yaml spec's ``id`` fields."""

    default_threshold = 0.25

    def __init__(self) -> None:
        self.config = load_function_config(Path(__file__).parent)
        self.names = self.config.names_by_id()
        self.session = onnx_session(weights_path(MODEL_ENV, DEFAULT_MODEL))
        model_input = self.session.get_inputs()[0]
        height, width = model_input.shape[2:4]
        # A dynamic export has symbolic dims: the size then comes from YOLO_INPUT_SIZE (default 640).
        fallback = int(os.environ.get(SIZE_ENV, "640"))
        self.size = (height if isinstance(height, int) else fallback, width if isinstance(width, int) else fallback)
        self.input_name = model_input.name
        self.segment = len(self.session.get_outputs()) > 1 and len(self.session.get_outputs()[1].shape) == 4

    def infer(self, request: DetectorRequest) -> list[Item]:
        canvas, fit = letterbox(to_array(request.image), self.size)
        outputs = self.session.run(None, {self.input_name: to_nchw(canvas)})
        if self.segment:
            return self._masks(outputs, fit, request.threshold)
        boxes, scores, classes = decode_ultralytics(outputs[0], request.threshold, IOU_THRESHOLD)
        return [
            rectangle(self.names[int(label)], box, confidence=float(score))
            for box, score, label in zip(fit.to_image(boxes), scores, classes, strict=True)
            if int(label) in self.names
        ]

    def _masks(self, outputs: list, fit: Letterbox, threshold: float) -> list[Item]:
        _, scores, classes, masks = decode_ultralytics_segment(
            outputs[0], outputs[1], self.size, threshold, IOU_THRESHOLD
        )
        items = []
        for bitmap, score, label in zip(masks, scores, classes, strict=True):
            name = self.names.get(int(label))
            item = mask(name, fit.mask_to_image(bitmap), confidence=float(score)) if name is not None else None
            if item is not None:
                items.append(item)
        return items
