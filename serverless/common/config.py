"""Runtime limits of the function library, read once from the environment.

Every environment read of the library happens here, with an injectable ``environ`` so tests
never patch ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_MAX_IMAGE_PIXELS = 40_000_000
"""40 MP: an 8K UHD frame (33 MP) passes; a 10000×10000 image (100 MP, a 97 KB PNG when black) is a
413 from its header before any pixel is decoded. A detector that declares ``fixed_input_size`` gets JPEGs
decoded reduced, and the limit applies to the reduced size. Raise it per function with
``CVAT_FN_MAX_IMAGE_PIXELS`` in the yaml's ``spec.env`` for models that really take larger frames."""
DEFAULT_MAX_SOURCE_PIXELS = 160_000_000
"""160 MP: the largest JPEG header a fixed-resolution function decodes reduced (a 150 MP medium-format
photo passes). Pillow itself refuses any image over 2 × ``PIL.Image.MAX_IMAGE_PIXELS`` (179 MP) on open."""
DEFAULT_MAX_IMAGE_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_POINTS = 10_000


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Size limits applied while parsing a request."""

    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    """Largest width × height accepted for one decoded image (a bigger one is a 413); for a JPEG decoded
    reduced (:func:`common.image.decode_frame`) this is the reduced size."""
    max_source_pixels: int = DEFAULT_MAX_SOURCE_PIXELS
    """Largest width × height a JPEG's header may claim when it is decoded reduced."""
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    """Largest encoded image file accepted, after base64 decoding."""
    max_points: int = DEFAULT_MAX_POINTS
    """Largest number of clicks, boxes or shapes accepted in one request."""


def _int_env(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = int(raw)
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value


def load_limits(environ: Mapping[str, str] | None = None) -> Limits:
    """Read limits from ``CVAT_FN_MAX_IMAGE_PIXELS``, ``CVAT_FN_MAX_SOURCE_PIXELS``, ``CVAT_FN_MAX_IMAGE_BYTES``,
    ``CVAT_FN_MAX_POINTS``."""
    env = os.environ if environ is None else environ
    return Limits(
        max_image_pixels=_int_env(env, "CVAT_FN_MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS),
        max_source_pixels=_int_env(env, "CVAT_FN_MAX_SOURCE_PIXELS", DEFAULT_MAX_SOURCE_PIXELS),
        max_image_bytes=_int_env(env, "CVAT_FN_MAX_IMAGE_BYTES", DEFAULT_MAX_IMAGE_BYTES),
        max_points=_int_env(env, "CVAT_FN_MAX_POINTS", DEFAULT_MAX_POINTS),
    )
