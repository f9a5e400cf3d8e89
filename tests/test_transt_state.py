"""TransT's state without its code: features with lists and NestedTensors, signing, validation."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from common.errors import InvalidTrackerState
from common.tracker_state import StateCodec
from cvat_serverless.harness.discovery import load_module

STATE = load_module(
    Path(__file__).parents[1] / "serverless/pytorch/dschoerk/transt/nuclio/transt_state.py", "transt_state_t"
)


class Nested:
    """Stands in for TransT's util.misc.NestedTensor (tensors + mask)."""

    def __init__(self, tensors: torch.Tensor, mask: torch.Tensor) -> None:
        self.tensors, self.mask = tensors, mask


def objects() -> tuple[SimpleNamespace, SimpleNamespace]:
    network = SimpleNamespace(
        zf=[Nested(torch.rand(1, 8, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool))],
        pos_template=[torch.rand(1, 8, 4, 4)],
    )
    tracker = SimpleNamespace(
        window=np.hanning(16),
        center_pos=np.array([225.0, 117.5]),
        size=np.array([90.0, 115.0]),
        channel_average=np.array([1.0, 2.0, 3.0]),
        mean=np.array([0.485, 0.456, 0.406]),
        std=np.array([0.229, 0.224, 0.225]),
        inplace=False,
        features_initialized=True,
    )
    return network, tracker


def test_round_trip_rebuilds_nested_features() -> None:
    network, tracker = objects()
    codec = StateCodec("pth-dschoerk-transt", b"secret")
    token = codec.encode(*STATE.encode(network, tracker))
    fresh_network, fresh_tracker = SimpleNamespace(), SimpleNamespace()
    STATE.decode(*codec.decode(token), fresh_network, fresh_tracker, torch.from_numpy, Nested)
    restored = fresh_network.zf[0]
    assert isinstance(restored, Nested) and restored.mask.dtype == torch.bool
    assert torch.allclose(restored.tensors, network.zf[0].tensors)
    assert torch.allclose(fresh_network.pos_template[0], network.pos_template[0])
    assert fresh_tracker.size.tolist() == [90.0, 115.0] and fresh_tracker.features_initialized is True


def test_tampered_and_malformed_states() -> None:
    network, tracker = objects()
    codec = StateCodec("pth-dschoerk-transt", b"secret")
    token = codec.encode(*STATE.encode(network, tracker))
    with pytest.raises(InvalidTrackerState):
        codec.decode(token[:-3] + "abc")
    data, arrays = STATE.encode(network, tracker)
    with pytest.raises(InvalidTrackerState, match="missing"):
        STATE.decode(
            data,
            {k: v for k, v in arrays.items() if not k.startswith("zf")},
            SimpleNamespace(),
            SimpleNamespace(),
            torch.from_numpy,
            Nested,
        )
    with pytest.raises(InvalidTrackerState, match="not a TransT state"):
        STATE.decode({}, arrays, SimpleNamespace(), SimpleNamespace(), torch.from_numpy, Nested)
    bad = {**arrays, "tracker.size": np.array([0.0, 1.0])}
    with pytest.raises(InvalidTrackerState, match="size"):
        STATE.decode(data, bad, SimpleNamespace(), SimpleNamespace(), torch.from_numpy, Nested)
