"""Factories for the detector output items CVAT reads (contract §4.1), and their check.

Model code builds results with these factories instead of writing wire dicts by hand; the
detector contract then checks every item against the function's label spec before encoding.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from common.errors import BadModelOutput
from common.labels import FunctionConfig
from common.masks import encode_crop, encode_function_mask, mask_bbox, mask_to_polygon, upscale_function_mask

Item = dict[str, Any]
SHAPE_TYPES = frozenset({"rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton"})


def _confidence(value: float | None) -> dict[str, str]:
    # Upstream functions send confidence as a string; CVAT ignores it, clients display it.
    return {} if value is None else {"confidence": f"{float(value):.4f}"}


def attribute(name: str, value: object) -> dict[str, str]:
    """One attribute value; CVAT expects values as strings."""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return {"name": name, "value": text}


def _flat(points: Iterable[Any]) -> list[float]:
    return [float(v) for v in np.asarray(list(points), dtype=np.float64).ravel()]


def _shape(
    label: str,
    shape_type: str,
    points: Iterable[Any],
    confidence: float | None,
    attributes: Sequence[Mapping[str, str]] | None,
) -> Item:
    item: Item = {"label": label, "type": shape_type, "points": _flat(points), **_confidence(confidence)}
    if attributes:
        item["attributes"] = list(attributes)
    return item


def rectangle(
    label: str,
    points: Iterable[float],
    *,
    confidence: float | None = None,
    attributes: Sequence[Mapping[str, str]] | None = None,
    rotation: float | None = None,
) -> Item:
    """A box ``[xtl, ytl, xbr, ybr]``; a rotated one gives its unrotated corners and ``rotation``.

    ``rotation``: degrees clockwise on screen about the box centre, as CVAT stores it (its
    serializer takes 0..360; the value is wrapped into that range).
    """
    item = _shape(label, "rectangle", points, confidence, attributes)
    if rotation is not None:
        item["rotation"] = float(rotation) % 360.0
    return item


def polygon(
    label: str,
    points: Iterable[Any],
    *,
    confidence: float | None = None,
    attributes: Sequence[Mapping[str, str]] | None = None,
) -> Item:
    """A polygon from ``[x0, y0, x1, y1, ...]`` or ``[[x0, y0], ...]``."""
    return _shape(label, "polygon", points, confidence, attributes)


def mask(
    label: str,
    bitmap: np.ndarray,
    *,
    confidence: float | None = None,
    attributes: Sequence[Mapping[str, str]] | None = None,
) -> Item | None:
    """A mask shape from a full-image bitmap, with its polygon in ``points`` (for ``conv_mask_to_poly``).

    Returns None for an empty bitmap, so callers can skip it.
    """
    if mask_bbox(bitmap) is None:
        return None
    outline = mask_to_polygon(bitmap) or []
    item: Item = {
        "label": label,
        "type": "mask",
        "mask": encode_function_mask(bitmap),
        "points": outline,
        **_confidence(confidence),
    }
    if attributes:
        item["attributes"] = list(attributes)
    return item


def keypoint(label: str, x: float, y: float, *, outside: bool = False, confidence: float | None = None) -> Item:
    """One skeleton element (a ``points`` sublabel)."""
    return {
        "label": label,
        "type": "points",
        "points": [float(x), float(y)],
        "outside": int(bool(outside)),
        **_confidence(confidence),
    }


def skeleton(label: str, elements: Sequence[Item], *, confidence: float | None = None) -> Item:
    """A skeleton made of :func:`keypoint` elements."""
    return {"label": label, "type": "skeleton", "elements": list(elements), **_confidence(confidence)}


def tag(label: str, *, attributes: Sequence[Mapping[str, str]] | None = None) -> Item:
    """An image-level tag (classification)."""
    return {"label": label, "type": "tag", "attributes": list(attributes or [])}


def _check_points(item: Mapping[str, Any], where: str, minimum: int) -> None:
    points = item.get("points")
    if not isinstance(points, list) or len(points) < minimum or len(points) % 2:
        raise BadModelOutput(f"{where}: 'points' must be an even-length list of at least {minimum} numbers")
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in points):
        raise BadModelOutput(f"{where}: 'points' holds a non-finite value")


_MIN_POINTS = {"rectangle": 4, "ellipse": 4, "polygon": 6, "polyline": 4, "points": 2, "cuboid": 16}


def check_detections(items: Sequence[Mapping[str, Any]], config: FunctionConfig | None) -> list[Mapping[str, Any]]:
    """Check model output against the wire contract and the label spec; returns the items.

    - Every label must be declared in the spec (when the spec declares any label).
    - Types must be CVAT shape types or ``tag``; points finite; masks carry ``mask``;
      skeleton elements must be sublabels of their skeleton.
    """
    labels = {label.name: label for label in config.labels} if config is not None else {}
    for index, item in enumerate(items):
        where = f"result[{index}]"
        if not isinstance(item, Mapping):
            raise BadModelOutput(f"{where} is a {type(item).__name__}, not an object")
        label_name, shape_type = item.get("label"), item.get("type")
        if labels and label_name not in labels:
            raise BadModelOutput(f"{where}: label {label_name!r} is not declared in the function's spec")
        if shape_type == "tag":
            continue
        if shape_type not in SHAPE_TYPES:
            raise BadModelOutput(f"{where}: unknown type {shape_type!r}")
        if shape_type == "mask":
            if not isinstance(item.get("mask"), list) or len(item["mask"]) < 5:
                raise BadModelOutput(f"{where}: a mask needs 'mask' (bitmap + box)")
        elif shape_type == "skeleton":
            spec = labels.get(str(label_name))
            allowed = {sub.name for sub in spec.sublabels} if spec is not None else None
            for element in item.get("elements", []):
                if allowed is not None and element.get("label") not in allowed:
                    raise BadModelOutput(f"{where}: element {element.get('label')!r} is not a sublabel")
                _check_points(element, f"{where}.elements", 2)
        else:
            _check_points(item, where, _MIN_POINTS[shape_type])
    return list(items)


def scale_detections(items: Sequence[Mapping[str, Any]], scale: int, size: tuple[int, int]) -> list[Mapping[str, Any]]:
    """Map checked detector items from a frame decoded at 1/``scale`` to the full ``size`` (w, h) frame.

    - Points, skeleton elements' points included, are multiplied by ``scale``; ``rotation`` and
      every other field are kept (a uniform scale keeps angles).
    - A mask's crop is repeated to full resolution (:func:`common.masks.upscale_function_mask`)
      and its polygon is traced again from it, as :func:`mask` would on a full-resolution bitmap.
    - Returns new items; ``items`` is not modified. ``scale`` 1 returns them as they are.
    """
    if scale == 1:
        return list(items)
    return [_scaled(item, scale, size) for item in items]


def _scaled(item: Mapping[str, Any], scale: int, size: tuple[int, int]) -> Item:
    scaled = dict(item)
    if item.get("type") == "mask":
        try:
            full, box = upscale_function_mask(item["mask"], scale, size)
        except ValueError as error:
            raise BadModelOutput(f"a mask does not fit the frame decoded at 1/{scale}: {error}") from None
        outline = mask_to_polygon(full) or []
        scaled["mask"] = encode_crop(full, box)
        scaled["points"] = [v + offset for v, offset in zip(outline, box[:2] * (len(outline) // 2), strict=True)]
    elif "points" in item:
        scaled["points"] = [float(v) * scale for v in item["points"]]
    if "elements" in item:
        scaled["elements"] = [_scaled(element, scale, size) for element in item["elements"]]
    return scaled
