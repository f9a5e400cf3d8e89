"""detectron2 RetinaNet R101-FPN 3x (COCO), as upstream CVAT's function, with our conversion and checks."""

from __future__ import annotations

import os
from pathlib import Path

from convert import instances_to_items

from common.detector import DetectorRequest
from common.devices import torch_device
from common.image import to_array
from common.labels import load_function_config
from common.shapes import Item
from common.weights import weights_path

CONFIG = "COCO-Detection/retinanet_R_101_FPN_3x.yaml"
# Optional test-time resize (the config's 800/1333 by default); the harness uses small sizes on CPU.
MIN_SIZE_ENV, MAX_SIZE_ENV = "DETECTRON2_MIN_SIZE", "DETECTRON2_MAX_SIZE"


class ModelHandler:
    """detectron2's DefaultPredictor (BGR input, its own resizing); every score kept, our threshold applied."""

    default_threshold = 0.5

    def __init__(self) -> None:
        from detectron2 import model_zoo  # type: ignore[import-not-found]
        from detectron2.config import get_cfg  # type: ignore[import-not-found]
        from detectron2.engine import DefaultPredictor  # type: ignore[import-not-found]

        self.config = load_function_config(Path(__file__).parent)
        self.names = self.config.names_by_id()
        cfg = get_cfg()
        cfg.merge_from_file(model_zoo.get_config_file(CONFIG))
        cfg.MODEL.WEIGHTS = str(weights_path("DETECTRON2_WEIGHTS", "/opt/nuclio/retinanet_R_101_FPN_3x.pkl"))
        cfg.MODEL.DEVICE = str(torch_device())
        cfg.MODEL.RETINANET.SCORE_THRESH_TEST = 0.0
        cfg.INPUT.MIN_SIZE_TEST = int(os.environ.get(MIN_SIZE_ENV) or cfg.INPUT.MIN_SIZE_TEST)
        cfg.INPUT.MAX_SIZE_TEST = int(os.environ.get(MAX_SIZE_ENV) or cfg.INPUT.MAX_SIZE_TEST)
        self.predictor = DefaultPredictor(cfg)
        side = int(cfg.INPUT.MIN_SIZE_TEST)  # the shorter side is resized to it, keeping the aspect
        self.fixed_input_size = (side, side)  # so JPEGs are decoded reduced, never below it

    def infer(self, request: DetectorRequest) -> list[Item]:
        rgb = to_array(request.image)
        instances = self.predictor(rgb[:, :, ::-1].copy())["instances"].to("cpu")
        return instances_to_items(
            instances.pred_boxes.tensor.numpy(),
            instances.scores.numpy(),
            instances.pred_classes.numpy(),
            self.names,
            request.threshold,
            rgb.shape[1],
            rgb.shape[0],
        )
