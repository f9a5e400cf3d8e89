"""Shared loading and output conversion for the torchvision detection functions.

Each folder's model handler names an architecture and a conversion; the model is built by
torchvision with ``weights=None`` (the real architecture, no download) and the published
state dict is loaded from the path in an environment variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from common.detector import DetectorRequest
from common.devices import torch_device
from common.image import to_array
from common.labels import FunctionConfig, load_function_config
from common.shapes import Item, keypoint, mask, rectangle, skeleton
from common.weights import weights_path

MIN_SIZE_ENV = "TORCHVISION_MIN_SIZE"
MAX_SIZE_ENV = "TORCHVISION_MAX_SIZE"
MASK_THRESHOLD = 0.5
KEYPOINT_VISIBLE_SCORE = 0.0
Prediction = dict[str, np.ndarray]


def build_model(architecture: str, weights: Path, num_classes: int) -> Any:
    """Build ``torchvision.models.detection.<architecture>`` and load ``weights`` (a state dict)."""
    import torch
    from torchvision.models import detection

    sizes = {
        key: int(os.environ[env])
        for key, env in (("min_size", MIN_SIZE_ENV), ("max_size", MAX_SIZE_ENV))
        if os.environ.get(env)
    }
    model = getattr(detection, architecture)(weights=None, weights_backbone=None, num_classes=num_classes, **sizes)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval().to(torch_device())


def rectangles(prediction: Prediction, names: dict[int, str], threshold: float) -> list[Item]:
    """Boxes as rectangles for labels declared in the spec."""
    return [
        rectangle(names[int(label)], box, confidence=float(score))
        for box, label, score in zip(prediction["boxes"], prediction["labels"], prediction["scores"], strict=True)
        if score >= threshold and int(label) in names
    ]


def masks(prediction: Prediction, names: dict[int, str], threshold: float) -> list[Item]:
    """Instance masks in CVAT's mask format (with their polygon); empty masks are dropped."""
    items = []
    for soft, label, score in zip(prediction["masks"], prediction["labels"], prediction["scores"], strict=True):
        if score >= threshold and int(label) in names:
            item = mask(names[int(label)], soft[0] >= MASK_THRESHOLD, confidence=float(score))
            if item is not None:
                items.append(item)
    return items


def skeletons(prediction: Prediction, config: FunctionConfig, threshold: float) -> list[Item]:
    """One skeleton per person; a keypoint with a non-positive score is marked outside."""
    person = next(label for label in config.labels if label.type == "skeleton")
    items = []
    for points, point_scores, score in zip(
        prediction["keypoints"], prediction["keypoints_scores"], prediction["scores"], strict=True
    ):
        if score < threshold:
            continue
        elements = [
            keypoint(sub.name, x, y, outside=bool(s <= KEYPOINT_VISIBLE_SCORE), confidence=float(s))
            for sub, (x, y, _), s in zip(person.sublabels, points, point_scores, strict=True)
        ]
        if any(not element["outside"] for element in elements):
            items.append(skeleton(person.name, elements, confidence=float(score)))
    return items


class TorchvisionDetector:
    """A detector model handler around one torchvision architecture; folders set the class fields."""

    architecture: str = ""
    num_classes: int = 91
    weights_env: str = "TORCHVISION_WEIGHTS"
    weights_file: str = ""
    default_threshold: float = 0.5

    def __init__(self, folder: Path) -> None:
        self.config = load_function_config(folder)
        self.names = self.config.names_by_id()
        self.model = build_model(
            self.architecture, weights_path(self.weights_env, Path("/opt/nuclio") / self.weights_file), self.num_classes
        )
        side = int(self.model.transform.min_size[-1])  # the shorter side is resized to it, keeping the aspect
        self.fixed_input_size = (side, side)  # so JPEGs are decoded reduced, never below it

    def predict(self, request: DetectorRequest) -> Prediction:
        """Run the model on the request's image; returns numpy arrays, image coordinates."""
        import torch

        device = next(self.model.parameters()).device
        tensor = torch.from_numpy(to_array(request.image).copy()).permute(2, 0, 1).float().div(255).to(device)
        with torch.inference_mode():
            output = self.model([tensor])[0]
        width, height = request.image.size
        prediction = {key: value.cpu().numpy() for key, value in output.items()}
        prediction["boxes"][:, 0::2] = prediction["boxes"][:, 0::2].clip(0, width - 1)
        prediction["boxes"][:, 1::2] = prediction["boxes"][:, 1::2].clip(0, height - 1)
        if "keypoints" in prediction:
            prediction["keypoints"][..., 0] = prediction["keypoints"][..., 0].clip(0, width - 1)
            prediction["keypoints"][..., 1] = prediction["keypoints"][..., 1].clip(0, height - 1)
        return prediction

    def infer(self, request: DetectorRequest) -> list[Item]:
        """Predict and convert with the folder's conversion (rectangles by default)."""
        prediction = self.predict(request)
        if "keypoints" in prediction:
            return skeletons(prediction, self.config, request.threshold)
        if "masks" in prediction:
            return masks(prediction, self.names, request.threshold)
        return rectangles(prediction, self.names, request.threshold)
