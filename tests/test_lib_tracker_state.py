"""Tests for common.tracker_state: signed inline states."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from common.errors import InvalidTrackerState
from common.tracker_state import StateCodec

CODEC = StateCodec(function="fn", secret=b"k" * 32)


def test_round_trip_with_arrays() -> None:
    patch = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    token = CODEC.encode({"box": [1, 2, 3, 4]}, {"patch": patch})
    data, arrays = CODEC.decode(token)
    assert data == {"box": [1, 2, 3, 4]} and np.array_equal(arrays["patch"], patch)


@pytest.mark.parametrize("token", [None, 5, "no-dot", "abc.def", {"box": [1, 2, 3, 4]}])
def test_foreign_values_are_refused(token: object) -> None:
    with pytest.raises(InvalidTrackerState, match="invalid tracker state"):
        CODEC.decode(token)


def test_tampering_is_detected() -> None:
    body, _, signature = CODEC.encode({"box": [1, 2, 3, 4]}).rpartition(".")
    document = json.loads(base64.urlsafe_b64decode(body))
    document["data"]["box"] = [100, 200, 300, 400]
    forged = base64.urlsafe_b64encode(json.dumps(document).encode()).decode()
    with pytest.raises(InvalidTrackerState, match="signature"):
        CODEC.decode(f"{forged}.{signature}")


def test_other_function_or_secret_cannot_read_it() -> None:
    token = CODEC.encode({"a": 1})
    with pytest.raises(InvalidTrackerState, match="signature"):
        StateCodec(function="other", secret=b"k" * 32).decode(token)
    with pytest.raises(InvalidTrackerState, match="signature"):
        StateCodec(function="fn", secret=b"x" * 32).decode(token)


def test_expiry_and_size_limit() -> None:
    token = CODEC.encode({"a": 1})
    with pytest.raises(InvalidTrackerState, match="expired"):
        StateCodec(function="fn", secret=b"k" * 32, max_age_s=-1).decode(token)
    with pytest.raises(ValueError, match="limit"):
        StateCodec(function="fn", secret=b"k" * 32, max_bytes=100).encode({"a": "x" * 200})


def test_secret_from_environment_is_shared_between_processes() -> None:
    one = StateCodec.from_env("fn", {"CVAT_FN_STATE_SECRET": "shared"})
    two = StateCodec.from_env("fn", {"CVAT_FN_STATE_SECRET": "shared"})
    assert two.decode(one.encode({"a": 1}))[0] == {"a": 1}
    assert StateCodec.from_env("fn", {}).secret != b"shared"
