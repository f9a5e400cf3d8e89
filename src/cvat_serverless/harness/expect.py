"""Checks for harness cases: each returns a callable that asserts on a :class:`Result`.

Every success check also verifies the wire contract of the kind (coordinates inside the image,
masks decodable, skeletons complete), so a case that only names a count still checks a lot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from common.masks import decode_function_mask
from cvat_serverless.harness import cvat_core
from cvat_serverless.harness.cases import Check, Result

Box = Sequence[float]
_TOLERANCE_PX = 1.0


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``[xtl, ytl, xbr, ybr]`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks of the same shape."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def points_bbox(points: Sequence[float]) -> list[float]:
    """Bounding box of a flat ``[x0, y0, x1, y1, ...]`` list."""
    xs, ys = points[0::2], points[1::2]
    return [min(xs), min(ys), max(xs), max(ys)]


def _image_size(result: Result, field: str = "image") -> tuple[int, int]:
    height, width = result.images[field].shape[:2]
    return width, height


def _inside(points: Sequence[float], size: tuple[int, int], where: str) -> None:
    width, height = size
    for x, y in zip(points[0::2], points[1::2], strict=True):
        assert -_TOLERANCE_PX <= x <= width - 1 + _TOLERANCE_PX, f"{where}: x={x} outside width {width}"
        assert -_TOLERANCE_PX <= y <= height - 1 + _TOLERANCE_PX, f"{where}: y={y} outside height {height}"


def _check_ok(result: Result) -> None:
    assert result.status == 200, f"[{result.transport}] expected 200, got {result.status}: {result.payload!r}"


def detector_contract(result: Result, labels: Iterable[str] | None = None) -> list[Mapping[str, Any]]:
    """Assert a detector answer is a list of well-formed items; return it."""
    _check_ok(result)
    items = result.payload
    assert isinstance(items, list), f"detector answer must be a JSON array, got {type(items).__name__}"
    allowed = set(labels) if labels is not None else None
    size = _image_size(result)
    for index, item in enumerate(items):
        where = f"result[{index}]"
        assert allowed is None or item["label"] in allowed, f"{where}: unexpected label {item['label']!r}"
        if item["type"] == "tag":
            continue
        if item["type"] == "skeleton":
            assert item["elements"], f"{where}: skeleton without elements"
            for element in item["elements"]:
                _inside(element["points"], size, f"{where}.elements")
            continue
        rotation = item.get("rotation", 0.0)
        if item["type"] == "rectangle" and rotation:
            # A rotated box (CVAT turns the corners about the centre) may cross the frame edge, as in CVAT.
            assert isinstance(rotation, (int, float)) and 0 <= rotation <= 360, f"{where}: rotation {rotation!r}"
            xtl, ytl, xbr, ybr = item["points"]
            _inside([(xtl + xbr) / 2, (ytl + ybr) / 2], size, f"{where} (centre)")
        else:
            _inside(item["points"], size, where)
        if item["type"] == "rectangle":
            xtl, ytl, xbr, ybr = item["points"]
            assert xtl <= xbr and ytl <= ybr, f"{where}: inverted box"
        if item["type"] == "mask":
            crop = decode_function_mask(item["mask"])
            xtl, ytl, xbr, ybr = item["mask"][-4:]
            _inside([xtl, ytl, xbr, ybr], size, f"{where}.mask")
            assert crop.any(), f"{where}: empty mask"
    return items


def detections(
    *,
    labels: Iterable[str] | None = None,
    min_count: int = 0,
    max_count: int | None = None,
    types: Iterable[str] | None = None,
    boxes: Sequence[tuple[str, Box, float]] = (),
    max_confidence_of_others: float | None = None,
) -> Check:
    """A detector answer with ``min_count``..``max_count`` items of the given labels/types.

    ``boxes``: ``(label, [xtl, ytl, xbr, ybr], min_iou)`` — some item of that label must overlap
    the box with at least ``min_iou`` (its polygon/mask bbox for non-rectangles).
    ``max_confidence_of_others``: items not matched to ``boxes`` must score below this.
    """
    label_set = list(labels) if labels is not None else None
    type_set = set(types) if types is not None else None

    def check(result: Result) -> None:
        items = detector_contract(result, label_set)
        assert len(items) >= min_count, f"[{result.transport}] expected ≥ {min_count} items, got {len(items)}"
        assert max_count is None or len(items) <= max_count, f"expected ≤ {max_count} items, got {len(items)}"
        if type_set is not None:
            assert {item["type"] for item in items} <= type_set, f"unexpected types in {items!r}"
        matched: set[int] = set()
        for label, box, min_iou in boxes:
            scores = [
                (box_iou(points_bbox(item["points"]), box), i)
                for i, item in enumerate(items)
                if item["label"] == label and item.get("points")
            ]
            best = max(scores, default=(0.0, -1))
            assert best[0] >= min_iou, f"[{result.transport}] no {label!r} near {box}: best IoU {best[0]:.2f}"
            matched.add(best[1])
        if max_confidence_of_others is not None:
            for index, item in enumerate(items):
                if index not in matched:
                    score = float(item.get("confidence", 0))
                    assert score < max_confidence_of_others, f"unexpected {item['label']!r} at confidence {score}"

    return check


def interactor_mask(
    *, truth: np.ndarray | None = None, min_iou: float = 0.0, min_area: int = 1, confidence: bool | None = None
) -> Check:
    """An interactor answer in CVAT 2.73's ``{"shapes"}`` form, placed as cvat-core and the UI place it.

    The masks are decoded by :mod:`cvat_serverless.harness.cvat_core` (CVAT's RLE, the box's position,
    the confidence attribute) and must lie inside the frame; their union is compared with ``truth``.
    ``confidence`` True/False requires/forbids the ``spec_id`` 0 confidence attribute.
    """

    def check(result: Result) -> None:
        _check_ok(result)
        payload = result.payload
        assert isinstance(payload, dict) and isinstance(payload.get("shapes"), list), (
            f"[{result.transport}] expected CVAT's {{'shapes': [...]}} interactor answer, got {payload!r:.200}"
        )
        assert "bounds" not in payload and "mask" not in payload, "CVAT reads no 'bounds'; a 'mask' would hide 'shapes'"
        width, height = _image_size(result)
        for shape in payload["shapes"]:
            assert shape.get("type") == "mask", f"interactor shapes are masks, got {shape.get('type')!r}"
            xtl, ytl, xbr, ybr = shape["points"][-4:]
            assert 0 <= xtl <= xbr < width and 0 <= ytl <= ybr < height, f"mask box {shape['points'][-4:]} off frame"
        placed = cvat_core.place(payload, width, height)
        full = np.zeros((height, width), dtype=bool)
        for mask in placed:
            full |= mask.bitmap
            if confidence is not None:
                assert (mask.confidence is not None) == confidence, f"confidence attribute: {mask.confidence!r}"
            if mask.confidence is not None:
                assert 0.0 <= mask.confidence <= 1.0, f"confidence {mask.confidence} outside [0, 1]"
        assert full.sum() >= min_area, f"[{result.transport}] mask area {full.sum()} < {min_area}"
        if truth is not None:
            iou = mask_iou(full, truth)
            assert iou >= min_iou, f"[{result.transport}] mask IoU {iou:.3f} < {min_iou} once placed as CVAT places it"

    return check


def interactor_masks(result: Result) -> np.ndarray:
    """The union of an interactor answer's masks as CVAT's UI places them on the request's image."""
    width, height = _image_size(result)
    full = np.zeros((height, width), dtype=bool)
    for mask in cvat_core.place(result.payload, width, height):
        full |= mask.bitmap
    return full


def tracker_answer(*, count: int, near: Sequence[Box | None] | None = None, min_iou: float = 0.0) -> Check:
    """A tracker ``{"shapes", "states"}`` answer with ``count`` objects; optionally near boxes."""

    def check(result: Result) -> None:
        _check_ok(result)
        shapes, states = result.payload["shapes"], result.payload["states"]
        assert len(shapes) == count and len(states) == count, f"expected {count} objects: {result.payload!r:.300}"
        for index, shape in enumerate(shapes):
            if shape is None:
                continue
            points = shape["points"] if isinstance(shape, dict) else shape
            if near is not None and near[index] is not None:
                iou = box_iou(points_bbox(points), near[index])
                assert iou >= min_iou, f"[{result.transport}] object {index}: IoU {iou:.2f} < {min_iou}"

    return check


def reid_answer(expected: Sequence[int] | None = None, *, count: int | None = None) -> Check:
    """A ReID answer: a list of ints, equal to ``expected`` when given."""

    def check(result: Result) -> None:
        _check_ok(result)
        assert isinstance(result.payload, list) and all(isinstance(v, int) for v in result.payload)
        if count is not None:
            assert len(result.payload) == count
        if expected is not None:
            assert list(result.payload) == list(expected), f"[{result.transport}] got {result.payload}"

    return check


def error(status: int | tuple[int, int] = (400, 499), *, mentions: Iterable[str] = ()) -> Check:
    """An error answer: status (or range), JSON ``{"error": str}`` mentioning each word."""
    low, high = (status, status) if isinstance(status, int) else status

    def check(result: Result) -> None:
        assert low <= result.status <= high, f"[{result.transport}] expected {status}, got {result.status}"
        assert isinstance(result.payload, dict) and isinstance(result.payload.get("error"), str), (
            f"expected a JSON error body, got {result.payload!r:.200}"
        )
        text = result.payload["error"].lower()
        if result.payload.get("function_message_hidden_by_cvat"):
            return  # a real CVAT 2.73 replaces the function's words with requests' "400 Client Error ..."
        for word in mentions:
            assert word.lower() in text, f"error {result.payload['error']!r} does not mention {word!r}"

    return check
