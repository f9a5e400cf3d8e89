"""Bring-your-own ultralytics YOLO exported to ONNX, run with onnxruntime (common.yolo.OnnxYolo).

detect, segment, pose and obb exports, classic (NMS here) or end-to-end heads: the task comes
from the export's metadata; give the yaml spec labels the matching type (rectangle, mask,
skeleton, rectangle).
"""

from pathlib import Path

from common.yolo import OnnxYolo


class ModelHandler(OnnxYolo):
    def __init__(self) -> None:
        super().__init__(Path(__file__).parent)  # the model: YOLO_MODEL, default model.onnx next to this file
