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


def decode_image(value: object, *, field: str = "image", limits: Limits | None = None) -> Image.Image:
    """Decode one base64 image field into an RGB image.

    - Raises :class:`BadRequest` for a missing, non-base64, truncated or unreadable image and
      for an image smaller than ``MIN_IMAGE_SIDE`` pixels on a side.
    - Raises :class:`PayloadTooLarge` for an image over ``limits.max_image_pixels`` pixels,
      checked from the header before any pixel is decoded (a decompression bomb never loads).
    """
    limits = limits or Limits()
    data = decode_base64(value, field=field, max_bytes=limits.max_image_bytes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > limits.max_image_pixels:
                raise PayloadTooLarge(
                    f"{field!r} is {width}×{height} pixels; the limit is {limits.max_image_pixels} pixels"
                )
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
    return _to_rgb(image)


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
