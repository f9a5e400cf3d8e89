"""YOLO v3 region decoding on hand-built outputs: cell/anchor → box, both layouts, score = box × class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cvat_serverless.harness.discovery import load_module

REGION = load_module(
    Path(__file__).parents[1] / "serverless/openvino/omz/public/yolo-v3-tf/nuclio/yolo_region.py", "yolo_region_t"
)


def one_object(size: int, anchor: int, row: int, col: int, cls: int, box: float, prob: float) -> np.ndarray:
    output = np.zeros((1, 255, size, size), np.float32)
    block = output[0].reshape(3, 85, size, size)
    block[anchor, 0, row, col], block[anchor, 1, row, col] = 0.25, 0.75
    block[anchor, 2, row, col], block[anchor, 3, row, col] = np.log(2.0), 0.0
    block[anchor, 4, row, col], block[anchor, 5 + cls, row, col] = box, prob
    return output


def test_one_object_in_the_26_grid() -> None:
    found = REGION.decode_region(one_object(26, 2, 10, 3, 7, 0.8, 0.9), 0.5)
    assert len(found) == 1
    x0, y0, x1, y1, cls, score = found[0]
    cx, cy, w, h = (3 + 0.25) / 26, (10 + 0.75) / 26, 2 * 59 / 416, 119 / 416
    assert (x0, y0, x1, y1) == pytest.approx((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    assert cls == 7 and score == pytest.approx(0.72)


def test_channels_last_layout_and_threshold() -> None:
    output = one_object(52, 0, 1, 2, 0, 0.6, 0.9).transpose(0, 2, 3, 1)  # 1×52×52×255
    assert len(REGION.decode_region(output, 0.5)) == 1
    assert REGION.decode_region(output, 0.6) == []  # 0.54 is under the threshold
