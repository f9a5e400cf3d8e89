"""semantic-segmentation-adas-0001 (ICNet, Open Model Zoo) on OpenVINO: one mask shape per present class."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from common.detector import DetectorRequest
from common.image import to_array
from common.labels import load_function_config
from common.openvino_model import compile_model
from common.shapes import Item, mask
from common.weights import weights_path

MODEL_ENV = "SEGMENTATION_MODEL"
DEFAULT_MODEL = "/opt/nuclio/omz/semantic-segmentation-adas-0001.xml"
MIN_PIXELS = 16  # ignore specks of a class


class ModelHandler:
    """Input 1×3×1024×2048 BGR; output 1×1×1024×2048 class ids → masks at image resolution."""

    default_threshold = 0.0  # the network gives class ids, not scores: the threshold is not used

    def __init__(self) -> None:
        self.config = load_function_config(Path(__file__).parent)
        self.names = self.config.names_by_id()
        self.model = compile_model(weights_path(MODEL_ENV, DEFAULT_MODEL))
        _, _, self.height, self.width = (int(v) for v in self.model.inputs[0].shape)

    def infer(self, request: DetectorRequest) -> list[Item]:
        bgr = cv2.cvtColor(to_array(request.image), cv2.COLOR_RGB2BGR)
        height, width = bgr.shape[:2]
        tensor = cv2.resize(bgr, (self.width, self.height)).transpose(2, 0, 1)[None].astype(np.float32)
        classes = self.model(tensor)[self.model.outputs[0]].reshape(self.height, self.width)
        classes = cv2.resize(
            classes.astype(np.int32).astype(np.float32), (width, height), interpolation=cv2.INTER_NEAREST
        ).astype(np.int32)
        items = []
        for class_id in np.unique(classes):
            bitmap = classes == class_id
            if int(class_id) in self.names and bitmap.sum() >= MIN_PIXELS:
                item = mask(self.names[int(class_id)], bitmap)
                if item is not None:
                    items.append(item)
        return items
