"""TransT's per-object tracking state as signed inline JSON + arrays (upstream used jsonpickle).

TransT keeps the template features on its network (``net.net.zf``, ``net.net.pos_template``) and
the target on the tracker (``center_pos``, ``size``, ...). Features are tensors, lists of tensors
or ``NestedTensor`` objects (``.tensors`` + ``.mask``); :func:`encode` records that structure in
JSON next to float32/bool arrays and :func:`decode` rebuilds it, with ``nested`` as the class to
use for NestedTensor values. Nothing is unpickled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from common.errors import InvalidTrackerState

NETWORK_FIELDS = ("zf", "pos_template")
TRACKER_ARRAYS = ("window", "center_pos", "size", "channel_average", "mean", "std")
MAX_DEPTH = 4


def _flatten(value: Any, name: str, arrays: dict[str, np.ndarray], depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise TypeError(f"{name}: nested too deeply")
    if hasattr(value, "tensors") and hasattr(value, "mask"):
        return {
            "nested": _flatten(value.tensors, f"{name}.t", arrays, depth + 1),
            "mask": _flatten(value.mask, f"{name}.m", arrays, depth + 1),
        }
    if isinstance(value, (list, tuple)):
        return {"list": [_flatten(item, f"{name}.{i}", arrays, depth + 1) for i, item in enumerate(value)]}
    if value is None:
        return {"none": True}
    array = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    is_bool = array.dtype == bool
    arrays[name] = np.ascontiguousarray(array.astype(np.uint8) if is_bool else array.astype(np.float32))
    return {"array": name, "bool": bool(is_bool)}


def _rebuild(
    spec: Any, arrays: Mapping[str, np.ndarray], to_tensor: Callable[[np.ndarray], Any], nested: Any, depth: int = 0
) -> Any:
    if depth > MAX_DEPTH or not isinstance(spec, Mapping):
        raise InvalidTrackerState("invalid tracker state: malformed TransT features")
    if "nested" in spec:
        return nested(
            _rebuild(spec["nested"], arrays, to_tensor, nested, depth + 1),
            _rebuild(spec["mask"], arrays, to_tensor, nested, depth + 1),
        )
    if "list" in spec:
        return [_rebuild(item, arrays, to_tensor, nested, depth + 1) for item in spec["list"]]
    if spec.get("none"):
        return None
    try:
        array = arrays[spec["array"]]
    except (KeyError, TypeError):
        raise InvalidTrackerState("invalid tracker state: a TransT feature array is missing") from None
    return to_tensor(array.astype(bool) if spec.get("bool") else array)


def encode(network: Any, tracker: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(data, arrays)`` of one object: the network's template features and the tracker's target."""
    arrays: dict[str, np.ndarray] = {}
    features = {field: _flatten(getattr(network, field), field, arrays) for field in NETWORK_FIELDS}
    for field in TRACKER_ARRAYS:
        arrays[f"tracker.{field}"] = np.asarray(getattr(tracker, field), dtype=np.float64)
    flags = {
        "inplace": bool(tracker.inplace),
        "features_initialized": bool(getattr(tracker, "features_initialized", False)),
    }
    return {"features": features, "flags": flags}, arrays


def decode(
    data: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    network: Any,
    tracker: Any,
    to_tensor: Callable[[np.ndarray], Any],
    nested: Any,
) -> None:
    """Put one object's state back on the shared network and tracker."""
    try:
        features, flags = data["features"], data["flags"]
        for field in NETWORK_FIELDS:
            setattr(network, field, _rebuild(features[field], arrays, to_tensor, nested))
        for field in TRACKER_ARRAYS:
            setattr(tracker, field, np.asarray(arrays[f"tracker.{field}"]))
        tracker.inplace = bool(flags["inplace"])
        tracker.features_initialized = bool(flags["features_initialized"])
    except (KeyError, TypeError):
        raise InvalidTrackerState("invalid tracker state: not a TransT state") from None
    if np.asarray(tracker.size).shape != (2,) or (np.asarray(tracker.size) <= 0).any():
        raise InvalidTrackerState("invalid tracker state: TransT target size is malformed")
