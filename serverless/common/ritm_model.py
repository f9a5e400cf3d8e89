"""RITM interactive segmentation (HRNet models, click predictors, f-BRS) from the ``ritm_annotation`` package.

Only the inference parts of ``ritm_annotation`` are imported (models, predictors, clicker), so its
training dependencies (albumentations, tensorboard, ...) stay out of the image: install it with
``pip install --no-deps ritm_annotation==0.12.2``.

Checkpoints are RITM's ``{"config": {"class", "params"}, "state_dict"}`` files. They are read with
``torch.load(weights_only=True)`` and the model class is looked up in an allow-list, never imported
from the string the file names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import InvalidFunctionConfig

PROB_THRESHOLD = 0.49
BRS_MODES = ("NoBRS", "f-BRS-A", "f-BRS-B", "f-BRS-C")


def _model_classes() -> dict[str, Any]:
    from ritm_annotation.model.is_deeplab_model import DeeplabModel
    from ritm_annotation.model.is_hrnet_model import HRNetModel

    return {"HRNetModel": HRNetModel, "DeeplabModel": DeeplabModel}


def _norm_layers() -> dict[str, Any]:
    import torch

    return {"torch.nn.modules.batchnorm.BatchNorm2d": torch.nn.BatchNorm2d}


def load_ritm_model(path: Path, device: Any) -> Any:
    """Build the checkpoint's model (allow-listed classes only), load its weights, eval mode on ``device``."""
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    try:
        config, state = checkpoint["config"], checkpoint["state_dict"]
        class_name = str(config["class"]).rsplit(".", 1)[-1]
        params = config["params"]
    except (KeyError, TypeError):
        raise InvalidFunctionConfig(f"{path} is not a RITM checkpoint (config + state_dict)") from None
    model_class = _model_classes().get(class_name)
    if model_class is None:
        raise InvalidFunctionConfig(f"{path}: model class {class_name!r} is not one of {sorted(_model_classes())}")
    arguments = {}
    for name, param in params.items():
        if not param.get("specified"):
            continue
        value = param["value"]
        if param.get("type") == "class":
            if value not in _norm_layers():
                raise InvalidFunctionConfig(f"{path}: parameter {name} names an unexpected class {value!r}")
            value = _norm_layers()[value]
        arguments[name] = value
    model = model_class(**arguments)
    missing, _ = model.load_state_dict(state, strict=False)
    if missing:
        raise InvalidFunctionConfig(f"{path}: the checkpoint lacks {len(missing)} weights, e.g. {missing[:3]}")
    return model.to(device).eval()


class ClickSegmenter:
    """Positive/negative clicks → a mask, with RITM's predictor (``NoBRS``) or f-BRS refinement."""

    def __init__(self, model: Any, device: Any, brs_mode: str = "NoBRS") -> None:
        from ritm_annotation.inference.predictors import get_predictor

        if brs_mode not in BRS_MODES:
            raise InvalidFunctionConfig(f"BRS mode must be one of {BRS_MODES}, got {brs_mode!r}")
        self.brs_mode = brs_mode
        self.predictor = get_predictor(model, brs_mode, device, prob_thresh=PROB_THRESHOLD)

    def segment(
        self, image: np.ndarray, positive: Sequence[Sequence[float]], negative: Sequence[Sequence[float]]
    ) -> np.ndarray:
        """A bool mask of the image from clicks given as ``[x, y]`` (RITM works in ``(y, x)``)."""
        import torch
        from ritm_annotation.inference.clicker import Click, Clicker

        clicker = Clicker()
        for points, is_positive in ((positive, True), (negative, False)):
            for x, y in points:
                clicker.add_click(Click(is_positive=is_positive, coords=(round(y), round(x))))
        # f-BRS optimises with gradients; the plain predictor runs without them.
        guard = torch.no_grad() if self.brs_mode == "NoBRS" else contextlib.nullcontext()
        with guard:
            self.predictor.set_input_image(image)
            probabilities = self.predictor.get_prediction(clicker)
        return np.asarray(probabilities) > PROB_THRESHOLD


CHECKPOINT_ENV = "RITM_CHECKPOINT"
BRS_MODE_ENV = "RITM_BRS_MODE"
DEFAULT_CHECKPOINT = "/opt/nuclio/ritm/coco_lvis_h18_itermask.pth"


class RitmInteractor:
    """The model handler of a RITM function folder: ``brs_mode`` is what tells HRNet and f-BRS apart."""

    def __init__(self, function_dir: Path, brs_mode: str) -> None:
        import os

        from common.devices import torch_device
        from common.interactor import InteractorRules
        from common.labels import load_function_config
        from common.weights import weights_path

        self.config = load_function_config(function_dir)
        self.rules = InteractorRules.from_config(self.config)
        device = torch_device()
        model = load_ritm_model(weights_path(CHECKPOINT_ENV, DEFAULT_CHECKPOINT), device)
        self.segmenter = ClickSegmenter(model, device, os.environ.get(BRS_MODE_ENV, brs_mode))

    def infer(self, request: Any) -> np.ndarray:
        from common.image import to_array

        return self.segmenter.segment(to_array(request.image), request.pos_points, request.neg_points)
