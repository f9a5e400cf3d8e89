"""JSON responses for Nuclio: always a ``nuclio_sdk.Response``, never a bare list.

Nuclio ≥ 1.13.3 treats a top-level list returned by a handler as a batch and sends back only
its first element, so every function answers through :func:`json_response`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from nuclio_sdk import Response

JSON_CONTENT_TYPE = "application/json"


def _to_builtin(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"object of type {type(value).__name__} is not JSON serializable")


def dumps(payload: Any) -> str:
    """Encode strictly: numpy scalars/arrays become numbers/lists; NaN and infinity are errors."""
    return json.dumps(payload, default=_to_builtin, allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def json_response(payload: Any, status_code: int = 200) -> Response:
    """Wrap a JSON-serialisable payload (dict, list, numbers, numpy values) in a Response."""
    return Response(body=dumps(payload), headers={}, content_type=JSON_CONTENT_TYPE, status_code=status_code)


def error_response(message: str, status_code: int) -> Response:
    """A JSON error response ``{"error": message}``."""
    return json_response({"error": message}, status_code=status_code)


def finite(value: float, what: str) -> float:
    """Return ``value`` as a float, raising ``ValueError`` naming ``what`` when it is NaN or infinite."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} is not finite: {value!r}")
    return number
