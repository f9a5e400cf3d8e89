"""Unit tests for the PP-OCR DB post-processing on hand-made probability maps."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np

from cvat_serverless.harness.discovery import load_module

FOLDER = Path(__file__).parents[1] / "serverless/onnx/paddlepaddle/ppocr-v4-det/nuclio"


def _module() -> ModuleType:
    return load_module(FOLDER / "model_handler.py", "ppocr_model_handler")


def test_two_kernels_become_two_grown_quads_in_image_coordinates() -> None:
    handler = _module()
    probability = np.zeros((64, 128), np.float32)
    probability[10:20, 10:60] = 0.9
    probability[40:50, 70:120] = 0.8
    found = handler.decode_probability_map(probability, 0.5, (2.0, 2.0))
    assert len(found) == 2
    for quad, score in found:
        assert quad.shape == (4, 2) and 0.5 <= score <= 1.0
    boxes = sorted([quad[:, 0].min(), quad[:, 1].min(), quad[:, 0].max(), quad[:, 1].max()] for quad, _ in found)
    # Unclipping grows each kernel beyond its own pixels (DB shrank text regions in training).
    assert boxes[0][0] < 20 and boxes[0][2] > 118 and boxes[0][1] < 20 and boxes[0][3] > 38


def test_weak_and_tiny_regions_are_dropped() -> None:
    handler = _module()
    probability = np.zeros((64, 64), np.float32)
    probability[5:15, 5:40] = 0.35
    probability[30:31, 30:31] = 0.99
    assert handler.decode_probability_map(probability, 0.5, (1.0, 1.0)) == []


def test_resize_shape_is_a_multiple_of_32_and_capped() -> None:
    handler = _module()
    assert handler._resize_shape(360, 640) == (736, 1312)
    height, width = handler._resize_shape(100, 10000)
    assert height % 32 == 0 and width % 32 == 0 and width <= 2400
