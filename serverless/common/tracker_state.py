"""Tracker states a client carries between calls: plain JSON, HMAC-signed, size-limited, expiring.

Nothing a client sends is ever unpickled: a state is a signed token around JSON, and arrays
travel as base64 of a declared dtype and shape. A forged, altered, expired or malformed state
is an :class:`~common.errors.InvalidTrackerState` (400).

The signing secret comes from ``CVAT_FN_STATE_SECRET``. Without it each worker process draws a
random secret, so a state is only valid in the worker that issued it: set the variable whenever a
function runs more than one worker (the processor and Nuclio spread frames over workers).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.errors import InvalidTrackerState

SECRET_ENV = "CVAT_FN_STATE_SECRET"
MAX_AGE_S = 8 * 3600
MAX_STATE_BYTES = 2 * 1024 * 1024
DTYPES = frozenset({"uint8", "int32", "int64", "float16", "float32", "float64"})
_PROCESS_SECRET = secrets.token_bytes(32)


@dataclass(frozen=True)
class StateCodec:
    """Signs and verifies the states of one function (the function id is part of what is signed)."""

    function: str
    secret: bytes
    max_age_s: float = MAX_AGE_S
    max_bytes: int = MAX_STATE_BYTES

    @classmethod
    def from_env(cls, function: str, environ: Mapping[str, str] | None = None) -> StateCodec:
        """Codec with the secret from ``CVAT_FN_STATE_SECRET`` (or this process's random one)."""
        env = os.environ if environ is None else environ
        secret = env.get(SECRET_ENV)
        return cls(function=function, secret=secret.encode() if secret else _PROCESS_SECRET)

    def _signature(self, body: bytes) -> str:
        return hmac.new(self.secret, self.function.encode() + b"\0" + body, hashlib.sha256).hexdigest()

    def encode(self, data: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> str:
        """A token ``<base64url JSON>.<hex HMAC>`` holding ``data`` and ``arrays``."""
        packed = {
            name: {
                "dtype": str(array.dtype),
                "shape": list(array.shape),
                "data": base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii"),
            }
            for name, array in (arrays or {}).items()
        }
        document = {"v": 1, "iat": time.time(), "data": dict(data), "arrays": packed}
        body = base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode())
        token = f"{body.decode('ascii')}.{self._signature(body)}"
        if len(token) > self.max_bytes:
            raise ValueError(f"tracker state of {len(token)} bytes is over the {self.max_bytes} byte limit")
        return token

    def decode(self, token: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Verify a token and return ``(data, arrays)``; raises InvalidTrackerState saying why."""
        if not isinstance(token, str) or "." not in token:
            raise InvalidTrackerState("invalid tracker state: not a state this function issued")
        if len(token) > self.max_bytes:
            raise InvalidTrackerState(f"invalid tracker state: larger than {self.max_bytes} bytes")
        body, _, signature = token.rpartition(".")
        if not hmac.compare_digest(signature, self._signature(body.encode("ascii", errors="replace"))):
            raise InvalidTrackerState("invalid tracker state: the signature does not match (forged or altered)")
        try:
            document = json.loads(base64.urlsafe_b64decode(body))
            issued, data, packed = float(document["iat"]), dict(document["data"]), dict(document["arrays"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise InvalidTrackerState("invalid tracker state: malformed content") from None
        if time.time() - issued > self.max_age_s:
            raise InvalidTrackerState("invalid tracker state: expired")
        return data, {name: _unpack(name, spec) for name, spec in packed.items()}


def _unpack(name: str, spec: Any) -> np.ndarray:
    try:
        dtype, shape = str(spec["dtype"]), tuple(int(v) for v in spec["shape"])
        raw = base64.b64decode(spec["data"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise InvalidTrackerState(f"invalid tracker state: array {name!r} is malformed") from None
    if dtype not in DTYPES or int(np.prod(shape)) * np.dtype(dtype).itemsize != len(raw):
        raise InvalidTrackerState(f"invalid tracker state: array {name!r} does not match its dtype and shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
