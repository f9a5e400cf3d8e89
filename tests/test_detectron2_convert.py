"""detectron2 Instances → CVAT rectangles, without detectron2: threshold, class map, clipping, empty boxes."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np

FOLDER = Path(__file__).parents[1] / "serverless/pytorch/facebookresearch/detectron2/retinanet_r101/nuclio"


def convert_module():
    sys.path.insert(0, str(FOLDER))
    try:
        return importlib.import_module("convert")
    finally:
        sys.path.remove(str(FOLDER))
        sys.modules.pop("convert", None)


def test_instances_to_items() -> None:
    convert = convert_module()
    boxes = np.array([[10, 20, 110, 220], [-5, -5, 50, 40], [30, 30, 30, 60], [0, 0, 10, 10], [5, 5, 900, 900]])
    scores = np.array([0.9, 0.7, 0.95, 0.2, 0.6])
    classes = np.array([15, 0, 2, 0, 99])
    items = convert.instances_to_items(boxes, scores, classes, {0: "person", 2: "car", 15: "cat"}, 0.5, 640, 480)
    assert [item["label"] for item in items] == ["cat", "person"]  # low score, empty box, unknown class dropped
    assert items[1]["points"] == [0, 0, 50, 40] and items[0]["type"] == "rectangle"
    assert float(items[0]["confidence"]) == 0.9
