"""TransT's state without its code: compact features, signing, size per object, validation, a fresh tracker."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from common.errors import InvalidTrackerState
from common.tracker_state import MAX_STATE_BYTES, StateCodec
from cvat_serverless.harness.discovery import load_module

STATE = load_module(
    Path(__file__).parents[1] / "serverless/pytorch/dschoerk/transt/nuclio/transt_state.py", "transt_state_t"
)


class Nested:
    """Stands in for TransT's util.misc.NestedTensor (tensors + mask)."""

    def __init__(self, tensors: torch.Tensor, mask: torch.Tensor) -> None:
        self.tensors, self.mask = tensors, mask


def position(nested: Nested) -> torch.Tensor:
    """Stands in for TransT's sine position module: a function of the mask only."""
    not_mask = (~nested.mask).float()
    return torch.stack([not_mask.cumsum(1), not_mask.cumsum(2)], dim=1)


def objects(seed: int = 0) -> tuple[SimpleNamespace, SimpleNamespace]:
    generator = torch.Generator().manual_seed(seed)
    features = torch.rand(*STATE.FEATURE_SHAPE, generator=generator) * 8  # post-ReLU ResNet features
    template = Nested(features, torch.zeros(1, 16, 16, dtype=torch.bool))
    network = SimpleNamespace(zf=[template], pos_template=[position(template)])
    tracker = SimpleNamespace(
        center_pos=np.array([225.0, 117.5]), size=np.array([90.0, 115.0]), channel_average=np.array([1.0, 2.0, 3.0])
    )
    STATE.tracker_constants(tracker)
    return network, tracker


def restore(data: dict, arrays: dict) -> tuple[SimpleNamespace, SimpleNamespace]:
    network, tracker = SimpleNamespace(), SimpleNamespace()
    STATE.decode(data, arrays, network, tracker, torch.from_numpy, Nested, position)
    return network, tracker


def test_a_fresh_network_and_tracker_continue_from_the_signed_state() -> None:
    network, tracker = objects()
    issuing, continuing = StateCodec("pth-dschoerk-transt", b"secret"), StateCodec("pth-dschoerk-transt", b"secret")
    token = issuing.encode(*STATE.encode(network, tracker))
    fresh_network, fresh_tracker = restore(*continuing.decode(token))
    restored = fresh_network.zf[0]
    assert isinstance(restored, Nested) and restored.mask.dtype == torch.bool and not restored.mask.any()
    assert restored.tensors.dtype == torch.float32 and restored.tensors.shape == STATE.FEATURE_SHAPE
    # float16 keeps 11 significant bits: relative error under 2^-11
    assert torch.allclose(restored.tensors, network.zf[0].tensors, rtol=2**-11, atol=0)
    assert torch.equal(fresh_network.pos_template[0], network.pos_template[0])
    assert fresh_tracker.size.tolist() == [90.0, 115.0] and fresh_tracker.center_pos.tolist() == [225.0, 117.5]
    assert fresh_tracker.window.shape == (1024,) and fresh_tracker.inplace is False
    assert fresh_tracker.mean == [0.485, 0.456, 0.406] and fresh_tracker.std == [0.229, 0.224, 0.225]


def test_one_object_state_is_far_under_the_limit() -> None:
    token = StateCodec("pth-dschoerk-transt", b"secret").encode(*STATE.encode(*objects()))
    # float16 features without the position encoding: ~0.93 MB; float32 + position was 2.35 MB (over 2 MiB)
    assert len(token) < 0.5 * MAX_STATE_BYTES


def test_tampered_and_malformed_states() -> None:
    network, tracker = objects()
    codec = StateCodec("pth-dschoerk-transt", b"secret")
    token = codec.encode(*STATE.encode(network, tracker))
    with pytest.raises(InvalidTrackerState):
        codec.decode(token[:-3] + "abc")
    data, arrays = STATE.encode(network, tracker)
    with pytest.raises(InvalidTrackerState, match="not a TransT state"):
        restore(data, {k: v for k, v in arrays.items() if k != "zf"})
    with pytest.raises(InvalidTrackerState, match="not a TransT state"):
        restore({}, arrays)
    with pytest.raises(InvalidTrackerState, match="not a TransT state"):
        restore({**data, "features": "float32"}, arrays)
    with pytest.raises(InvalidTrackerState, match="malformed"):
        restore({**data, "shape": [1, 1024, 16, 8]}, arrays)
    with pytest.raises(InvalidTrackerState, match="not a TransT state"):
        restore(data, {**arrays, "zf": arrays["zf"].astype(np.float32)})
    with pytest.raises(InvalidTrackerState, match="malformed"):
        restore(data, {**arrays, "zf_mask": arrays["zf_mask"][:, :8]})
    with pytest.raises(InvalidTrackerState, match="size"):
        restore(data, {**arrays, "size": np.array([0.0, 1.0])})
    with pytest.raises(InvalidTrackerState, match="size"):
        restore(data, {**arrays, "center_pos": np.array([np.nan, 1.0])})


def test_shims_give_torchvision_what_transt_v1_imports() -> None:
    """util/misc.py reads float("0.29.1"[:3]) = 0.2 < 0.7 and imports these; resnet.py imports model_urls."""
    compat = load_module(
        Path(__file__).parents[1] / "serverless/pytorch/dschoerk/transt/nuclio/transt_compat.py", "transt_compat_t"
    )
    compat.install_shims()
    from torchvision.models.resnet import model_urls
    from torchvision.ops import _new_empty_tensor
    from torchvision.ops.misc import _output_size

    empty = torch.zeros(0, 3, 8, 8)
    shape = [0, 3, *_output_size(2, empty, None, 2.0)]
    assert _new_empty_tensor(empty, shape).shape == (0, 3, 16, 16)
    assert _output_size(2, empty, (5, 7), None) == [5, 7]
    assert model_urls["resnet50"].startswith("https://download.pytorch.org/models/resnet50-")


def test_features_beyond_float16_are_clipped_not_infinite() -> None:
    network, tracker = objects()
    network.zf[0].tensors[0, 0, 0, :2] = torch.tensor([1e6, -1e6])
    restored, _ = restore(*STATE.encode(network, tracker))
    assert torch.isfinite(restored.zf[0].tensors).all()
    assert restored.zf[0].tensors[0, 0, 0, :2].tolist() == [65504.0, -65504.0]
