"""TransT's per-object tracking state as signed inline JSON + arrays (upstream used jsonpickle).

TransT keeps the template on its network (``net.zf``: a list with one ``NestedTensor`` of the
ResNet layer-3 features, 1×1024×16×16, and its padding mask; ``net.pos_template``: their sine
position encoding) and the target on the tracker (``center_pos``, ``size``, ``channel_average``).
Only ``Tracker.track`` reads them, and it uses the last feature level only.

To stay well under the 2 MiB state limit, a state carries the features as float16 (their bytes in
a uint8 array: 512 KiB instead of 1 MiB) and not the position encoding, which the network's
position module recomputes from the mask exactly. The tracker's ``window``, ``mean``, ``std`` and
``inplace`` are the constants ``Tracker.initialize`` sets and are set again here. Nothing is
unpickled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from common.errors import InvalidTrackerState

FEATURE_SHAPE = (1, 1024, 16, 16)  # layer3 of ResNet-50 on the 128×128 template (stride 8)
TRACKER_ARRAYS = {"center_pos": (2,), "size": (2,), "channel_average": (3,)}
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def tracker_constants(tracker: Any) -> None:
    """What ``Tracker.initialize`` sets that is the same for every object."""
    tracker.window = np.outer(np.hanning(32), np.hanning(32)).flatten()
    tracker.mean, tracker.std, tracker.inplace = list(MEAN), list(STD), False


def encode(network: Any, tracker: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(data, arrays)`` of one object: the template features (float16 bytes) and mask, and the target."""
    features, mask = network.zf[-1].tensors, network.zf[-1].mask
    largest = float(np.finfo(np.float16).max)  # 65504; clipped rather than turned into inf
    half = np.ascontiguousarray(np.clip(features.detach().cpu().numpy(), -largest, largest).astype(np.float16))
    arrays = {
        "zf": half.view(np.uint8),
        "zf_mask": np.ascontiguousarray(mask.detach().cpu().numpy().astype(np.uint8)),
    }
    for field, shape in TRACKER_ARRAYS.items():
        arrays[field] = np.asarray(getattr(tracker, field), dtype=np.float64).reshape(shape)
    return {"features": "float16", "shape": list(half.shape)}, arrays


def decode(
    data: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    network: Any,
    tracker: Any,
    to_tensor: Callable[[np.ndarray], Any],
    nested: Callable[[Any, Any], Any],
    position: Callable[[Any], Any],
) -> None:
    """Put one object's state back on the shared network and tracker.

    ``nested`` builds a NestedTensor from (features, mask); ``position`` is the network's position
    module (``net.backbone[1]``), which gives ``pos_template`` from the NestedTensor.
    """
    try:
        shape = tuple(int(v) for v in data["shape"])
        raw, mask = arrays["zf"], arrays["zf_mask"]
        target = {field: arrays[field].reshape(size) for field, size in TRACKER_ARRAYS.items()}
    except (KeyError, TypeError, ValueError):
        raise InvalidTrackerState("invalid tracker state: not a TransT state") from None
    if data.get("features") != "float16" or len(shape) != 4 or raw.dtype != np.uint8:
        raise InvalidTrackerState("invalid tracker state: not a TransT state")
    if raw.shape != (*shape[:3], shape[3] * 2) or mask.shape != (shape[0], shape[2], shape[3]):
        raise InvalidTrackerState("invalid tracker state: TransT features are malformed")
    if (target["size"] <= 0).any() or not all(np.isfinite(v).all() for v in target.values()):
        raise InvalidTrackerState("invalid tracker state: TransT target size is malformed")
    features = np.ascontiguousarray(raw).view(np.float16).astype(np.float32)
    template = nested(to_tensor(features), to_tensor(mask.astype(bool)))
    network.zf = [template]
    network.pos_template = [position(template).to(template.tensors.dtype)]
    for field, value in target.items():
        setattr(tracker, field, value)
    tracker_constants(tracker)
