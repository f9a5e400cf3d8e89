"""CVAT's mask encodings and mask → polygon conversion.

Two wire forms exist (contract §4.1.1 and §4.1.2):

- function side: the 0/255 bitmap of the *inclusive* bounding-box crop, row-major, followed by
  ``xtl, ytl, xbr, ybr``;
- server side: run lengths of that crop, row-major, starting with a (possibly empty) run of
  zeros, followed by the same four numbers. This is what CVAT stores and what cvat-sdk's
  ``encode_mask`` produces.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Box = tuple[int, int, int, int]


def _check_bitmap(bitmap: np.ndarray) -> np.ndarray:
    array = np.asarray(bitmap)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"bitmap must be a non-empty 2-dimensional array, got shape {array.shape}")
    return array != 0


def mask_bbox(bitmap: np.ndarray) -> Box | None:
    """Return the inclusive ``(xtl, ytl, xbr, ybr)`` box of the set pixels, or None when empty."""
    mask = _check_bitmap(bitmap)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def encode_function_mask(bitmap: np.ndarray, box: Box | None = None) -> list[int]:
    """Encode a full-image bitmap in the function-side form: crop values (0/255) + inclusive box.

    - ``box`` defaults to the bounding box of the set pixels.
    - Raises ``ValueError`` for an empty mask or a box outside the bitmap.
    """
    mask = _check_bitmap(bitmap)
    box = mask_bbox(mask) if box is None else tuple(int(v) for v in box)  # type: ignore[assignment]
    if box is None:
        raise ValueError("cannot encode an empty mask")
    xtl, ytl, xbr, ybr = box
    height, width = mask.shape
    if not (0 <= xtl <= xbr < width and 0 <= ytl <= ybr < height):
        raise ValueError(f"box {box} is outside a {width}×{height} bitmap")
    return encode_crop(mask[ytl : ybr + 1, xtl : xbr + 1], box)


def encode_crop(crop: np.ndarray, box: Box) -> list[int]:
    """The function-side form of a bool ``crop`` already cut to its inclusive ``box``: values (0/255) + box."""
    return [*(np.asarray(crop, dtype=np.uint8) * 255).ravel().tolist(), *(int(v) for v in box)]


def decode_function_mask(values: Sequence[float], shape: tuple[int, int] | None = None) -> np.ndarray:
    """Decode the function-side form into a bool bitmap (full image when ``shape`` is given, else the crop)."""
    if len(values) < 5:
        raise ValueError("a function-side mask needs at least one value and four box coordinates")
    xtl, ytl, xbr, ybr = (int(v) for v in values[-4:])
    width, height = xbr - xtl + 1, ybr - ytl + 1
    if width <= 0 or height <= 0 or len(values) - 4 != width * height:
        raise ValueError(f"mask has {len(values) - 4} values but its box {xtl, ytl, xbr, ybr} needs {width * height}")
    crop = np.asarray(values[:-4], dtype=np.float64).reshape(height, width) != 0
    if shape is None:
        return crop
    full = np.zeros(shape, dtype=bool)
    full[ytl : ybr + 1, xtl : xbr + 1] = crop
    return full


def upscale_function_mask(values: Sequence[float], scale: int, size: tuple[int, int]) -> tuple[np.ndarray, Box]:
    """A function-side mask of a frame decoded at 1/``scale`` as a bool crop and box of the ``size`` (w, h) frame.

    Each reduced pixel stands for a ``scale``×``scale`` block of the frame (libjpeg's DCT scaling),
    so the crop is repeated ``scale`` times along both axes and cut at the frame's right/bottom edge.
    """
    crop = decode_function_mask(values)
    xtl, ytl, xbr, ybr = (int(v) for v in values[-4:])
    width, height = size
    left, top = xtl * scale, ytl * scale
    right, bottom = min((xbr + 1) * scale, width) - 1, min((ybr + 1) * scale, height) - 1
    if right < left or bottom < top:
        raise ValueError(f"box {xtl, ytl, xbr, ybr} × {scale} is outside a {width}×{height} frame")
    full = np.repeat(np.repeat(crop, scale, axis=0), scale, axis=1)[: bottom - top + 1, : right - left + 1]
    return full, (left, top, right, bottom)


def crop_to_rle(crop: np.ndarray) -> list[int]:
    """Row-major run lengths of a bool crop, starting with a run of zeros (possibly 0 long)."""
    flat = np.asarray(crop, dtype=bool).ravel()
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)
    return counts


def function_mask_to_rle(values: Sequence[float]) -> list[int]:
    """Convert the function-side form into the server-side RLE form (same four box numbers)."""
    crop = decode_function_mask(values)
    return [*crop_to_rle(crop), *(int(v) for v in values[-4:])]


def rle_to_bitmap(rle: Sequence[float], shape: tuple[int, int]) -> np.ndarray:
    """Decode the server-side RLE form (counts + inclusive box) into a full-image bool bitmap."""
    xtl, ytl, xbr, ybr = (int(v) for v in rle[-4:])
    width, height = xbr - xtl + 1, ybr - ytl + 1
    counts = np.asarray(rle[:-4], dtype=np.int64)
    if width <= 0 or height <= 0 or counts.sum() != width * height or (counts < 0).any():
        raise ValueError(f"run lengths do not cover the box {xtl, ytl, xbr, ybr}")
    values = np.arange(counts.size) % 2 == 1
    crop = np.repeat(values, counts).reshape(height, width)
    full = np.zeros(shape, dtype=bool)
    full[ytl : ybr + 1, xtl : xbr + 1] = crop
    return full


def bitmap_to_rle(bitmap: np.ndarray) -> list[int] | None:
    """Server-side RLE form of a full-image bitmap, or None for an empty mask."""
    mask = _check_bitmap(bitmap)
    box = mask_bbox(mask)
    if box is None:
        return None
    xtl, ytl, xbr, ybr = box
    return [*crop_to_rle(mask[ytl : ybr + 1, xtl : xbr + 1]), xtl, ytl, xbr, ybr]


def mask_to_polygon(bitmap: np.ndarray, *, epsilon: float = 1.0) -> list[float] | None:
    """Outline the largest connected region of a bitmap as a flat ``[x0, y0, x1, y1, ...]`` polygon.

    Uses OpenCV's border following and Douglas-Peucker simplification (``epsilon`` pixels).
    Returns None when the mask is empty or its largest region has fewer than 3 vertices.
    """
    mask = _check_bitmap(bitmap).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    largest = max(contours, key=cv2.contourArea)
    if epsilon > 0:
        largest = cv2.approxPolyDP(largest, epsilon, True)
    points = largest.reshape(-1, 2)
    if len(points) < 3:
        return None
    return points.astype(float).ravel().tolist()


def polygon_to_bitmap(points: Sequence[float], shape: tuple[int, int]) -> np.ndarray:
    """Fill a flat ``[x0, y0, x1, y1, ...]`` polygon into an H×W bool bitmap (OpenCV)."""
    canvas = np.zeros(shape, dtype=np.uint8)
    outline = np.round(np.asarray(points, dtype=np.float64).reshape(-1, 2)).astype(np.int32)
    cv2.fillPoly(canvas, [outline], 1)
    return canvas.astype(bool)
