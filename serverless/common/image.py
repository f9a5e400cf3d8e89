"""Decode the base64 images CVAT sends into RGB Pillow images, with size limits.

CVAT sends the original bytes of a frame (JPEG, PNG, or whatever was uploaded; PNG for video
frames) as standard base64. Like upstream functions we do not apply EXIF orientation: the
coordinates must match the frame as CVAT stores it.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from common.config import Limits
from common.errors import BadRequest, PayloadTooLarge

MIN_IMAGE_SIDE = 8
_DATA_URL_MARKER = ";base64,"


def decode_base64(value: object, *, field: str, max_bytes: int) -> bytes:
    """Decode a standard-alphabet base64 string (a ``data:`` URL prefix is tolerated).

    - ``value`` must be a non-empty string, or :class:`BadRequest` is raised naming ``field``.
    - The decoded size must not exceed ``max_bytes`` (:class:`PayloadTooLarge`).
    """
    if not isinstance(value, str):
        raise BadRequest(f"{field!r} must be a base64 string, got {type(value).__name__}")
    if value.startswith("data:") and _DATA_URL_MARKER in value:
        value = value.split(_DATA_URL_MARKER, 1)[1]
    if not value:
        raise BadRequest(f"{field!r} is empty")
    if len(value) // 4 * 3 > max_bytes + 3:
        raise PayloadTooLarge(f"{field!r} is larger than the limit of {max_bytes} bytes")
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadRequest(f"{field!r} is not valid base64: {error}") from None


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; alpha is dropped as ``Image.convert`` does."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        high = float(array.max()) if array.size else 0.0
        if image.mode == "F":
            low = float(array.min())
            scale = 255.0 / (high - low) if high > low else 0.0
            array = (array - low) * scale
        elif high > 255:
            array = array * (255.0 / 65535.0)
        gray = np.clip(np.rint(array), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image.convert("RGB")


@dataclass(frozen=True)
class Frame:
    """A decoded frame, maybe reduced: a full-resolution coordinate is a coordinate in ``image`` × ``scale``."""

    image: Image.Image
    """The frame, RGB; ``size`` divided by ``scale`` (rounded up) when decoded reduced."""
    scale: int
    """1, or the JPEG's DCT scaling denominator: 2, 4 or 8."""
    size: tuple[int, int]
    """(width, height) of the frame at full resolution, the one CVAT's coordinates refer to."""


def decode_image(value: object, *, field: str = "image", limits: Limits | None = None) -> Image.Image:
    """Decode one base64 image field into an RGB image at full resolution.

    - Raises :class:`BadRequest` for a missing, non-base64, truncated or unreadable image and
      for an image smaller than ``MIN_IMAGE_SIDE`` pixels on a side.
    - Raises :class:`PayloadTooLarge` for an image over ``limits.max_image_pixels`` pixels,
      checked from the header before any pixel is decoded (a decompression bomb never loads).
    """
    return decode_frame(value, field=field, limits=limits).image


def decode_frame(
    value: object, *, min_size: tuple[int, int] | None = None, field: str = "image", limits: Limits | None = None
) -> Frame:
    """Decode one base64 image field; a JPEG is decoded reduced when the model needs only ``min_size``.

    - ``min_size`` is the (width, height) the model resizes every frame to. A JPEG is then decoded
      at 1/2, 1/4 or 1/8 of its size by libjpeg's DCT scaling (Pillow's ``Image.draft``), the
      largest factor that keeps both sides at least ``min_size``; other formats, and JPEGs too
      small to reduce, are decoded in full (``scale`` 1).
    - ``limits.max_image_pixels`` applies to the decoded size, so a reduced JPEG over it is
      answered; its header may claim at most ``limits.max_source_pixels`` (:class:`PayloadTooLarge`).
    - Otherwise as :func:`decode_image`; a ``min_size`` side below 1 is a ``ValueError`` (a caller's bug).
    """
    if min_size is not None and min(min_size) < 1:
        raise ValueError(f"min_size must be positive, got {min_size}")
    limits = limits or Limits()
    data = decode_base64(value, field=field, max_bytes=limits.max_image_bytes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            scale = _draft(image, min_size) if min_size is not None else 1
            _check_pixels(field, (width, height), image.size, limits)
            if min(width, height) < MIN_IMAGE_SIDE:
                raise BadRequest(
                    f"{field!r} is {width}×{height} pixels; the smallest accepted is {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE}"
                )
            image.load()
    except Image.DecompressionBombError as error:
        raise PayloadTooLarge(f"{field!r} has too many pixels: {error}") from None
    except UnidentifiedImageError as error:
        raise BadRequest(f"{field!r} is not a readable image: {error}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise BadRequest(f"{field!r} could not be decoded (truncated or corrupt?): {error}") from None
    return Frame(image=_to_rgb(image), scale=scale, size=(width, height))


def _draft(image: Image.Image, min_size: tuple[int, int]) -> int:
    """Set a JPEG's decoder to the largest DCT scale that keeps ``min_size``; returns it (1 for other formats)."""
    source_width = image.width
    configured = image.draft(None, min_size)  # Pillow: the largest of 8, 4, 2, 1 ≤ min(W // w, H // h)
    if configured is None:
        return 1
    return round(source_width / configured[1][2])


def _check_pixels(field: str, source: tuple[int, int], decoded: tuple[int, int], limits: Limits) -> None:
    (width, height), (reduced_w, reduced_h) = source, decoded
    if decoded != source and width * height > limits.max_source_pixels:
        raise PayloadTooLarge(
            f"{field!r} is {width}×{height} pixels; the limit for a JPEG decoded reduced is "
            f"{limits.max_source_pixels} pixels"
        )
    if reduced_w * reduced_h > limits.max_image_pixels:
        reduced = f" ({reduced_w}×{reduced_h} decoded reduced)" if decoded != source else ""
        raise PayloadTooLarge(
            f"{field!r} is {width}×{height} pixels{reduced}; the limit is {limits.max_image_pixels} pixels"
        )


def to_array(image: Image.Image) -> np.ndarray:
    """Return an RGB image as a contiguous ``uint8`` array of shape (H, W, 3)."""
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def encode_image(image: Image.Image | np.ndarray, *, fmt: str = "PNG") -> str:
    """Encode an image (Pillow or RGB/gray array) as standard base64 of a ``fmt`` file."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def crop_boxes(array: np.ndarray, boxes: np.ndarray, min_side: int = 4) -> list[np.ndarray]:
    """Crops of (N, 4) xyxy ``boxes`` from an (H, W, C) array, clipped inside, at least ``min_side`` a side."""
    height, width = array.shape[:2]
    crops = []
    for x1, y1, x2, y2 in boxes:
        left, top = int(min(max(0, x1), width - min_side)), int(min(max(0, y1), height - min_side))
        right = max(left + min_side, int(min(width, x2 + 1)))
        bottom = max(top + min_side, int(min(height, y2 + 1)))
        crops.append(array[top:bottom, left:right])
    return crops
