"""Harness cases as data: what a function folder declares in its ``cases.py``.

A function folder's ``cases.py`` defines:

- ``CASES``: a list of :class:`Case` records (one request, or several :class:`Step` for trackers);
- optionally ``environment(workdir: Path) -> dict[str, str]``: prepare what the function needs to
  load (e.g. write tiny random weights of the real architecture) and return the environment
  variables that point the function at them;
- optionally ``SKIP_REASON``: a string; when set (e.g. a dependency that is not on PyPI is not
  importable), every case of the folder is skipped with that reason.

Request bodies may hold :class:`ImageSource` values anywhere; they are encoded to base64 when
the case runs, so case files stay declarative and cheap to import.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class ImageSource:
    """An image a case sends, built lazily: ``make()`` returns an RGB uint8 array."""

    name: str
    make: Callable[[], np.ndarray]
    fmt: str = "PNG"

    def array(self) -> np.ndarray:
        """The image as an (H, W, 3) uint8 array (cached per source name and format)."""
        return _cached_array(self)

    def base64(self) -> str:
        """The image encoded as ``fmt`` and then standard base64."""
        return _cached_base64(self)


@lru_cache(maxsize=64)
def _cached_array(source: ImageSource) -> np.ndarray:
    array = np.asarray(source.make())
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return np.ascontiguousarray(array[..., :3].astype(np.uint8))


@lru_cache(maxsize=64)
def _cached_base64(source: ImageSource) -> str:
    buffer = io.BytesIO()
    Image.fromarray(source.array()).save(buffer, format=source.fmt, **({"quality": 95} if source.fmt == "JPEG" else {}))
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def sample_image(name: str, *, fmt: str = "PNG") -> ImageSource:
    """A scikit-image sample image (``astronaut``, ``coffee``, ``chelsea``, ...); no download."""

    def make() -> np.ndarray:
        from skimage import data

        return getattr(data, name)()

    return ImageSource(name=f"skimage:{name}", make=make, fmt=fmt)


def generated_image(name: str, make: Callable[[], np.ndarray], *, fmt: str = "PNG") -> ImageSource:
    """An image drawn by ``make`` (deterministic: use fixed seeds); ``name`` must be unique."""
    return ImageSource(name=name, make=make, fmt=fmt)


def file_image(path: str | Path, *, fmt: str = "PNG") -> ImageSource:
    """An image read from a file."""
    return ImageSource(name=f"file:{path}", make=lambda: np.asarray(Image.open(path).convert("RGB")), fmt=fmt)


@dataclass(frozen=True)
class Result:
    """What one call returned, and what was sent."""

    status: int
    payload: Any
    """The decoded JSON body (None when the body is not JSON)."""
    body: Mapping[str, Any]
    """The resolved request body that was sent (images as base64)."""
    images: Mapping[str, np.ndarray]
    """The request's images by field name, decoded, for geometry checks."""
    transport: str


Check = Callable[[Result], None]
BodyFactory = Callable[[Sequence[Result]], Mapping[str, Any]]


@dataclass(frozen=True)
class Step:
    """One request of a case: a body (or a factory of earlier results) and its check."""

    body: Mapping[str, Any] | BodyFactory
    check: Check


@dataclass(frozen=True)
class Case:
    """One harness case: a name, one or more steps; runs through every transport."""

    name: str
    body: Mapping[str, Any] | None = None
    check: Check | None = None
    steps: Sequence[Step] = field(default=())
    transports: frozenset[str] | None = None
    """Restrict to these transports (None = all)."""

    def all_steps(self) -> list[Step]:
        """The steps, with the ``body``/``check`` shorthand as the first one."""
        first = [Step(self.body, self.check or (lambda result: None))] if self.body is not None else []
        return first + list(self.steps)


def resolve(value: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """Replace :class:`ImageSource` values by base64; return the body and its images by field."""
    images: dict[str, np.ndarray] = {}

    def walk(item: Any, key: str) -> Any:
        if isinstance(item, ImageSource):
            images[key] = item.array()
            return item.base64()
        if isinstance(item, Mapping):
            return {k: walk(v, str(k)) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [walk(v, key) for v in item]
        return item

    return walk(value, ""), images
