"""YOLO v3 region decoding on hand-built raw outputs: cell/anchor → box, sigmoid/exp, both layouts, threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.errors import BadModelOutput
from cvat_serverless.harness.discovery import load_module

REGION = load_module(
    Path(__file__).parents[1] / "serverless/openvino/omz/public/yolo-v3-tf/nuclio/yolo_region.py", "yolo_region_t"
)


def logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def one_object(size: int, anchor: int, row: int, col: int, cls: int, box: float, prob: float) -> np.ndarray:
    """A raw 1×S×S×255 output: background logits -30, one object with the given probabilities."""
    cells = np.full((1, size, size, 3, 85), -30.0, np.float32)
    cells[0, row, col, anchor, 0:2] = logit(0.25), logit(0.75)  # offsets inside the cell
    cells[0, row, col, anchor, 2:4] = np.log(2.0), 0.0  # twice the anchor width, anchor height
    cells[0, row, col, anchor, 4] = logit(box)
    cells[0, row, col, anchor, 5 + cls] = logit(prob)
    return cells.reshape(1, size, size, 255)


def test_one_object_in_the_26_grid() -> None:
    found = REGION.decode_region(one_object(26, 2, 10, 3, 7, 0.8, 0.9), 0.5)
    assert len(found) == 1
    x0, y0, x1, y1, cls, score = found[0]
    cx, cy, w, h = (3 + 0.25) / 26, (10 + 0.75) / 26, 2 * 59 / 416, 119 / 416  # anchor 2 of 26: 59×119
    assert (x0, y0, x1, y1) == pytest.approx((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), abs=1e-6)
    assert cls == 7 and score == pytest.approx(0.72, abs=1e-6)


def test_rows_are_y_and_columns_are_x_in_the_13_grid() -> None:
    x0, y0, x1, y1, cls, _ = REGION.decode_region(one_object(13, 0, 1, 11, 0, 0.9, 0.9), 0.5)[0]
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx(((11 + 0.25) / 13, (1 + 0.75) / 13), abs=1e-6)
    assert (x1 - x0, y1 - y0) == pytest.approx((2 * 116 / 416, 90 / 416), abs=1e-6)
    assert cls == 0


def test_channels_first_layout_gives_the_same_box() -> None:
    output = one_object(52, 0, 1, 2, 5, 0.6, 0.9)
    channels_first = output.transpose(0, 3, 1, 2)  # 1×255×52×52
    (expected,) = REGION.decode_region(output, 0.5)
    (found,) = REGION.decode_region(channels_first, 0.5)
    assert found == pytest.approx(expected)


def test_threshold_applies_to_objectness_times_class() -> None:
    output = one_object(52, 0, 1, 2, 0, 0.6, 0.9)
    assert len(REGION.decode_region(output, 0.5)) == 1
    assert REGION.decode_region(output, 0.6) == []  # 0.54 is under the threshold
    assert REGION.decode_region(output, 0.7) == []  # the objectness alone is under it


def test_background_logits_decode_to_nothing_even_at_a_low_threshold() -> None:
    background = np.full((1, 13, 13, 255), -30.0, np.float32)
    assert REGION.decode_region(background, 0.01) == []


@pytest.mark.parametrize("shape", [(1, 13, 13, 80), (1, 14, 14, 255), (13, 13, 255), (2, 13, 13, 255)])
def test_unexpected_shapes_are_a_model_error(shape: tuple[int, ...]) -> None:
    with pytest.raises(BadModelOutput, match="expected"):
        REGION.decode_region(np.zeros(shape, np.float32), 0.5)
