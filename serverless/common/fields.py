"""Validators for the request fields the contracts share (numbers, points, boxes).

Each raises :class:`BadRequest` naming the field and saying what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from common.errors import BadRequest, PayloadTooLarge


def finite(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is no JSON number, not finite, or an integer too
    large for a float (JSON allows integers of any length: ``float(10**400)`` overflows)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        result = float(value)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None


def _shown(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def number(
    body: Mapping[str, Any], name: str, default: float | None, *, low: float | None = None, high: float | None = None
) -> float | None:
    """Read an optional finite number field, checked against ``[low, high]``; ``null`` means absent."""
    raw = body.get(name)
    if raw is None:
        return default
    value = finite(raw)
    if value is None:
        raise BadRequest(f"{name!r} must be a finite number, got {_shown(raw)}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise BadRequest(f"{name!r} must be between {low} and {high}, got {_shown(raw)}")
    return value


def threshold(body: Mapping[str, Any], default: float | None) -> float | None:
    """The optional ``threshold`` field: a number in [0, 1]."""
    return number(body, "threshold", default, low=0.0, high=1.0)


def coordinate(value: Any, where: str) -> float:
    result = finite(value)
    if result is None:
        raise BadRequest(f"{where} must be a finite number, got {_shown(value)}")
    return result


def point_list(
    body: Mapping[str, Any], name: str, *, size: tuple[int, int], max_points: int, required: bool = False
) -> np.ndarray:
    """Read ``[[x, y], ...]`` into an (N, 2) float array; every point must lie inside the image.

    ``size`` is (width, height). A missing or null field is an empty list unless ``required``.
    """
    raw = body.get(name)
    if raw is None:
        if required:
            raise BadRequest(f"{name!r} is required")
        return np.zeros((0, 2), dtype=np.float64)
    if not isinstance(raw, list):
        raise BadRequest(f"{name!r} must be a list of [x, y] pairs, got {type(raw).__name__}")
    if len(raw) > max_points:
        raise PayloadTooLarge(f"{name!r} has {len(raw)} points; the limit is {max_points}")
    width, height = size
    points = np.zeros((len(raw), 2), dtype=np.float64)
    for index, item in enumerate(raw):
        where = f"{name}[{index}]"
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise BadRequest(f"{where} must be an [x, y] pair, got {item!r}")
        x, y = coordinate(item[0], f"{where}.x"), coordinate(item[1], f"{where}.y")
        if not (0 <= x < width and 0 <= y < height):
            raise BadRequest(f"{where} = [{x:g}, {y:g}] is outside the {width}×{height} image")
        points[index] = (x, y)
    return points


def box(value: Any, name: str, *, size: tuple[int, int] | None = None) -> tuple[float, float, float, float]:
    """Read a box as ``[[x1, y1], [x2, y2]]`` (CVAT's ``obj_bbox``) or ``[x1, y1, x2, y2]``.

    The corners are sorted; a box with no area is rejected. With ``size`` the box is clipped
    to the image, and a box entirely outside it is rejected.
    """
    flat: list[Any]
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(p, (list, tuple)) for p in value):
        if any(len(p) != 2 for p in value):
            raise BadRequest(f"{name!r} must be [[x1, y1], [x2, y2]], got {value!r}")
        flat = [value[0][0], value[0][1], value[1][0], value[1][1]]
    elif isinstance(value, (list, tuple)) and len(value) == 4:
        flat = list(value)
    else:
        raise BadRequest(f"{name!r} must be [[x1, y1], [x2, y2]] or [x1, y1, x2, y2], got {value!r}")
    x1, y1, x2, y2 = (coordinate(v, name) for v in flat)
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    if size is not None:
        width, height = size
        if x2 < 0 or y2 < 0 or x1 >= width or y1 >= height:
            raise BadRequest(f"{name!r} {[x1, y1, x2, y2]} lies outside the {width}×{height} image")
        x1, x2 = max(0.0, x1), min(float(width - 1), x2)
        y1, y2 = max(0.0, y1), min(float(height - 1), y2)
    if x2 - x1 < 1 or y2 - y1 < 1:
        raise BadRequest(f"{name!r} {[x1, y1, x2, y2]} has no area")
    return x1, y1, x2, y2


def object_list(body: Mapping[str, Any], name: str, *, max_items: int) -> list[Any] | None:
    """Read an optional list field (None when absent or null), bounded in length."""
    raw = body.get(name)
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise BadRequest(f"{name!r} must be a list, got {type(raw).__name__}")
    if len(raw) > max_items:
        raise PayloadTooLarge(f"{name!r} has {len(raw)} items; the limit is {max_items}")
    return raw
