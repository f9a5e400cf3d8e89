"""DEXTR on OpenVINO: exactly four extreme points → the object's mask."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from dextr_geometry import network_input, paste_back

from common.image import to_array
from common.interactor import InteractorRequest, InteractorRules
from common.labels import load_function_config
from common.openvino_model import OpenVinoSettings, compile_model
from common.weights import weights_path

MODEL_ENV = "DEXTR_MODEL"
EXTREME_POINTS = "the object's extreme points: leftmost, rightmost, top and bottom"


class ModelHandler:
    """The IR takes 1×4×512×512 (RGB + heatmap) and answers 1×1×512×512 object probabilities."""

    def __init__(self) -> None:
        self.config = load_function_config(Path(__file__).parent)
        # The network reads exactly four points, whatever the yaml says (it declares 4 and 4 for the UI).
        self.rules = replace(
            InteractorRules.from_config(self.config),
            min_pos_points=4,
            max_pos_points=4,
            pos_points_meaning=EXTREME_POINTS,
        )
        path = weights_path(MODEL_ENV, "/opt/nuclio/dextr/dextr.xml")
        self.model = compile_model(path, OpenVinoSettings.from_env())
        self.output = self.model.output(0)

    def infer(self, request: InteractorRequest) -> np.ndarray:
        image = to_array(request.image)
        tensor, box = network_input(image, request.pos_points)
        probabilities = self.model(tensor)[self.output][0, 0]
        return paste_back(probabilities, box, image.shape[0], image.shape[1])
