"""YOLOv7 (WongKinYiu, yolov7-nms-640.onnx: NMS inside the graph) on onnxruntime, CUDA provider first on GPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.detector import DetectorRequest
from common.devices import onnx_session
from common.image import to_array
from common.labels import load_function_config
from common.shapes import Item, rectangle
from common.weights import weights_path
from common.yolo import letterbox, to_nchw


class ModelHandler:
    """Letterbox to 640×640, run the graph, un-letterbox its rows ``[batch, x0, y0, x1, y1, class, score]``."""

    default_threshold = 0.5

    def __init__(self) -> None:
        self.config = load_function_config(Path(__file__).parent)
        self.names = self.config.names_by_id()
        self.session = onnx_session(weights_path("YOLOV7_MODEL", "/opt/nuclio/yolov7-nms-640.onnx"))
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.size = (int(model_input.shape[2]), int(model_input.shape[3]))
        self.fixed_input_size = (self.size[1], self.size[0])  # letterboxed to it: JPEGs are decoded reduced

    def infer(self, request: DetectorRequest) -> list[Item]:
        fitted, frame = letterbox(to_array(request.image), self.size)
        rows = np.asarray(self.session.run(None, {self.input_name: to_nchw(fitted)})[0], dtype=np.float64).reshape(
            -1, 7
        )
        rows = rows[rows[:, 6] >= request.threshold]
        if not len(rows):
            return []
        boxes = frame.to_image(rows[:, 1:5])
        items = []
        for box, cls, score in zip(boxes, rows[:, 5].astype(int), rows[:, 6], strict=True):
            name = self.names.get(int(cls))
            if name is not None and box[2] > box[0] and box[3] > box[1]:
                items.append(rectangle(name, box, confidence=float(score)))
        return items
