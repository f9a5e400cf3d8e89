"""SiamMask's state without its code: what is signed and sent, validation, geometry."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from common.errors import InvalidTrackerState
from common.tracker import bounding_box, box_center_size
from common.tracker_state import StateCodec
from cvat_serverless.harness.discovery import load_module

STATE = load_module(
    Path(__file__).parents[1] / "serverless/pytorch/foolwood/siammask/nuclio/siammask_state.py",
    "siammask_state_for_tests",
)


def siamese_state() -> dict:
    return {
        "im_h": 360,
        "im_w": 480,
        "net": SimpleNamespace(zf=torch.arange(256 * 7 * 7, dtype=torch.float32).reshape(1, 256, 7, 7)),
        "p": object(),  # rebuilt from the model, never sent
        "window": np.ones(10),
        "target_pos": np.array([225.0, 117.5]),
        "target_sz": np.array([90.0, 115.0]),
        "avg_chans": np.array([120.0, 110.0, 100.0]),
    }


def test_inline_state_round_trip_through_a_signed_codec() -> None:
    codec = StateCodec("pth-foolwood-siammask", b"secret")
    token = codec.encode(*STATE.to_inline(siamese_state()))
    assert len(token) < 120_000  # the 50 KB template plus a few numbers
    values = STATE.from_inline(*codec.decode(token))
    assert values["im_w"] == 480 and values["target_sz"].tolist() == [90.0, 115.0]
    assert np.array_equal(values["zf"], siamese_state()["net"].zf.numpy())
    with pytest.raises(InvalidTrackerState):
        codec.decode(token[:-4] + "0000")


def test_malformed_states_are_refused() -> None:
    data, arrays = STATE.to_inline(siamese_state())
    with pytest.raises(InvalidTrackerState, match="SiamMask"):
        STATE.from_inline({}, arrays)
    with pytest.raises(InvalidTrackerState, match="malformed"):
        STATE.from_inline(data, {**arrays, "target_sz": np.array([0.0, 5.0])})


def test_window_and_geometry() -> None:
    window = STATE.tracker_window(25, 5)
    assert window.shape == (25 * 25 * 5,) and window.max() <= 1.0 and window[0] == 0.0
    assert STATE.tracker_window(3, 2, "uniform").tolist() == [1.0] * 18
    assert box_center_size([180, 60, 270, 175]) == ((225.0, 117.5), (90.0, 115.0))
    rotated = [170.0, 50.0, 280.0, 60.0, 275.0, 190.0, -5.0, 180.0]
    assert bounding_box(rotated, 480, 185) == [0.0, 50.0, 280.0, 184.0]
