"""Tests for common.torchvision_detection's conversions on hand-made predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.labels import load_function_config
from common.shapes import check_detections
from common.torchvision_detection import masks, rectangles, skeletons

KEYPOINT_FOLDER = Path(__file__).parents[1] / "serverless/pytorch/torchvision/keypoint_rcnn/nuclio"
NAMES = {1: "person", 3: "car"}


def test_rectangles_keep_declared_labels_over_threshold() -> None:
    prediction = {
        "boxes": np.array([[1, 2, 30, 40], [5, 5, 9, 9], [0, 0, 5, 5]], float),
        "labels": np.array([1, 3, 12]),
        "scores": np.array([0.9, 0.3, 0.99]),
    }
    items = rectangles(prediction, NAMES, 0.5)
    assert [(item["label"], item["points"]) for item in items] == [("person", [1.0, 2.0, 30.0, 40.0])]


def test_masks_are_encoded_and_empty_ones_dropped() -> None:
    soft = np.zeros((2, 1, 20, 30), np.float32)
    soft[0, 0, 5:10, 3:8] = 0.9
    prediction = {"masks": soft, "labels": np.array([3, 3]), "scores": np.array([0.8, 0.8])}
    items = masks(prediction, NAMES, 0.5)
    assert len(items) == 1 and items[0]["mask"][-4:] == [3, 5, 7, 9] and items[0]["type"] == "mask"


def test_skeletons_mark_hidden_keypoints_outside_and_pass_the_spec_check() -> None:
    config = load_function_config(KEYPOINT_FOLDER, environ={})
    points = np.zeros((1, 17, 3), np.float32)
    points[0, :, 0], points[0, :, 1] = np.arange(17), np.arange(17) * 2
    scores = np.full((1, 17), 3.0, np.float32)
    scores[0, 4] = -1.0
    prediction = {"keypoints": points, "keypoints_scores": scores, "scores": np.array([0.9])}
    items = skeletons(prediction, config, 0.5)
    elements = items[0]["elements"]
    assert len(elements) == 17 and elements[4]["outside"] == 1 and elements[0]["label"] == "nose"
    assert check_detections(items, config) == items
    assert skeletons({**prediction, "scores": np.array([0.1])}, config, 0.5) == []


def test_keypoint_spec_has_a_complete_svg() -> None:
    config = load_function_config(KEYPOINT_FOLDER, environ={})
    person = config.labels[0]
    assert person.type == "skeleton" and len(person.sublabels) == 17
    assert person.svg.count('data-type="edge"') == 16 and person.svg.count("data-label-name=") == 17
