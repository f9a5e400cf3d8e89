"""The bad-input matrix: requests every function must refuse with a 4xx JSON error.

Built per kind from the function's own config (an interactor that needs no clicks is not asked
to refuse a request without clicks). After the matrix the harness sends a good request, which
must succeed: bad input never takes a worker down.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from common.interactor import InteractorRules
from common.labels import FunctionConfig

JSON = "application/json"


@dataclass(frozen=True)
class BadInput:
    """One refused request: raw body, content type, accepted statuses and words the error names."""

    name: str
    body: bytes | Callable[[], bytes]
    """The raw body, or a factory for big ones (built only when the case runs)."""
    content_type: str = JSON
    status: tuple[int, int] = (400, 499)
    mentions: tuple[str, ...] = ()
    transports: frozenset[str] | None = None


def _png(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@lru_cache(maxsize=1)
def small_image() -> str:
    """A 64×64 RGB gradient, base64 PNG."""
    ramp = np.linspace(0, 255, 64, dtype=np.uint8)
    return _png(np.stack([*np.meshgrid(ramp, ramp[::-1]), np.full((64, 64), 128, np.uint8)], axis=-1))


def _png_header_only(width: int, height: int) -> str:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)).decode("ascii")


@lru_cache(maxsize=1)
def decompression_bomb() -> str:
    """A small PNG that claims 20000×20000 pixels (400 MP, over the 40 MP default)."""
    buffer = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _truncated_png() -> str:
    raw = base64.b64decode(small_image())
    return base64.b64encode(raw[: len(raw) // 2]).decode("ascii")


def _json(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body).encode()


def _image_fields(kind: str) -> tuple[str, ...]:
    return ("image0", "image1") if kind == "reid" else ("image",)


def _tracked_type(config: FunctionConfig | None) -> str:
    """The first shape type a tracker declares (``rectangle`` for the legacy API)."""
    declared = (config.annotations.get("supported_shape_types", "") if config else "").split(",")
    return next((t.strip() for t in declared if t.strip()), "rectangle")


def good_body(kind: str, config: FunctionConfig | None = None) -> dict[str, Any]:
    """A minimal valid body of the kind around :func:`small_image` (kind-specific fields added)."""
    image = small_image()
    if kind == "reid":
        box = {"type": "rectangle", "points": [10, 10, 40, 40], "label_id": 1}
        return {"image0": image, "image1": image, "boxes0": [box], "boxes1": [box]}
    if kind == "interactor":
        return {
            "image": image,
            "pos_points": [[20, 20], [30, 30], [25, 40], [40, 25]],
            "neg_points": [],
            "obj_bbox": [[10, 10], [50, 50]],
        }
    if kind == "tracker":
        if _tracked_type(config) == "rectangle":
            return {"image": image, "shapes": [[10, 10, 40, 40]], "states": []}
        polygon = {"type": "polygon", "points": [10, 10, 40, 10, 40, 40, 10, 40]}
        if _tracked_type(config) == "mask":
            polygon = {"type": "mask", "points": [0, 31 * 31, 10, 10, 40, 40]}
        return {"image": image, "shapes": [polygon], "states": []}
    return {"image": image}


def _with(base: Mapping[str, Any], **changes: Any) -> bytes:
    body = dict(base)
    for key, value in changes.items():
        if value is _DROP:
            body.pop(key, None)
        else:
            body[key] = value
    return _json(body)


_DROP = object()


def _common(kind: str, base: Mapping[str, Any], max_body_size: int) -> list[BadInput]:
    first = _image_fields(kind)[0]

    def image(value: Any) -> bytes:
        return _with(base, **{first: value})

    return [
        BadInput("missing image", _with(base, **{first: _DROP}), mentions=(first,)),
        BadInput("image not base64", image("@@not base64@@"), mentions=(first, "base64")),
        BadInput("image is a number", image(12345), mentions=(first,)),
        BadInput("image is empty", image(""), mentions=(first,)),
        BadInput("image is not an image", image(base64.b64encode(b"hello, world").decode()), mentions=(first,)),
        BadInput("truncated png", image(_truncated_png()), mentions=(first,)),
        BadInput("0x0 image", image(_png_header_only(0, 0)), mentions=(first,)),
        BadInput("1x1 image", image(_png(np.zeros((1, 1, 3), np.uint8))), mentions=(first,)),
        BadInput("decompression bomb", image(decompression_bomb()), status=(413, 413), mentions=(first, "pixels")),
        BadInput("non-json body", b"{this is not json", mentions=("json",)),
        BadInput("json array body", b"[1, 2, 3]", mentions=("object",)),
        BadInput("empty body", b"", mentions=("empty",)),
        BadInput("wrong content type", _with(base), content_type="text/plain", mentions=("content-type",)),
        BadInput("threshold is a string", _with(base, threshold="abc"), mentions=("threshold",)),
        BadInput("threshold is NaN", _with(base, threshold=float("nan")), mentions=("threshold",)),
        BadInput("threshold is negative", _with(base, threshold=-0.5), mentions=("threshold",)),
        BadInput("threshold is a list", _with(base, threshold=[0.5]), mentions=("threshold",)),
        BadInput(
            "body over the size limit",
            lambda: _json({first: "A" * (max_body_size + 1024)}),
            status=(413, 413),
            transports=frozenset({"http"}),
        ),
    ]


def _interactor(config: FunctionConfig, base: Mapping[str, Any]) -> list[BadInput]:
    rules = InteractorRules.from_config(config)
    cases = [
        BadInput(
            "point outside the image", _with(base, pos_points=[[20, 20], [640, 10]]), mentions=("pos_points", "outside")
        ),
        BadInput("negative point outside the image", _with(base, neg_points=[[-5, 10]]), mentions=("neg_points",)),
        BadInput("points not a list", _with(base, pos_points="10,10"), mentions=("pos_points",)),
        BadInput("point with three numbers", _with(base, pos_points=[[1, 2, 3]]), mentions=("pos_points",)),
        BadInput("point with a string", _with(base, pos_points=[["a", 2]]), mentions=("pos_points",)),
        BadInput("malformed obj_bbox", _with(base, obj_bbox=[1, 2, 3]), mentions=("obj_bbox",)),
        BadInput("degenerate obj_bbox", _with(base, obj_bbox=[[5, 5], [5, 5]]), mentions=("obj_bbox",)),
        BadInput("obj_bbox outside the image", _with(base, obj_bbox=[[500, 500], [600, 600]]), mentions=("obj_bbox",)),
    ]
    if rules.min_pos_points > 0:
        cases.append(BadInput("too few points", _with(base, pos_points=[], obj_bbox=None), mentions=("pos_points",)))
        cases.append(
            BadInput(
                "negative clicks only",
                _with(base, pos_points=[], neg_points=[[5, 5]], obj_bbox=None),
                mentions=("pos_points",),
            )
        )
    if rules.max_pos_points is not None:
        many = [[10 + 3 * (i % 15), 10 + 3 * (i // 15)] for i in range(rules.max_pos_points + 1)]
        cases.append(BadInput("too many points", _with(base, pos_points=many), mentions=("pos_points",)))
    return cases


def _tracker(config: FunctionConfig, base: Mapping[str, Any]) -> list[BadInput]:
    tracked = _tracked_type(config)
    degenerate: Any = [5, 5, 5, 5]
    if tracked != "rectangle":
        degenerate = {"type": "polygon", "points": [5, 5, 5, 5, 5, 5]}
    return [
        BadInput("neither shapes nor states", _with(base, shapes=_DROP, states=_DROP), mentions=("shapes",)),
        BadInput("shapes not a list", _with(base, shapes="10,10,20,20"), mentions=("shapes",)),
        BadInput(
            "shape with three numbers",
            _with(base, shapes=[{"type": tracked, "points": [1, 2, 3]}]),
            mentions=("shapes",),
        ),
        BadInput(
            "degenerate shape",
            _with(base, shapes=[degenerate]),
            mentions=("shapes",) if tracked == "rectangle" else ("polygon",),
        ),
        BadInput(
            "unsupported shape type", _with(base, shapes=[{"type": "cuboid", "points": [1] * 16}]), mentions=("cuboid",)
        ),
        BadInput("forged state", _with(base, shapes=_DROP, states=["forged-state"]), mentions=("state",)),
    ]


def _reid(config: FunctionConfig, base: Mapping[str, Any]) -> list[BadInput]:
    return [
        BadInput("missing image1", _with(base, image1=_DROP), mentions=("image1",)),
        BadInput("missing boxes0", _with(base, boxes0=_DROP), mentions=("boxes0",)),
        BadInput("box with two numbers", _with(base, boxes1=[{"points": [1, 2]}]), mentions=("boxes1",)),
        BadInput("degenerate box", _with(base, boxes0=[[5, 5, 5, 5]]), mentions=("boxes0",)),
        BadInput("max_distance is a string", _with(base, max_distance="far"), mentions=("max_distance",)),
    ]


_KIND_SPECIFIC: dict[str, Callable[[FunctionConfig, Mapping[str, Any]], list[BadInput]]] = {
    "interactor": _interactor,
    "tracker": _tracker,
    "reid": _reid,
}


def bad_inputs(
    config: FunctionConfig, base: Mapping[str, Any] | None = None, max_body_size: int = 4 * 1024 * 1024
) -> list[BadInput]:
    """The whole matrix for one function (common cases plus its kind's).

    ``base`` is a valid small body the bad ones are derived from (default :func:`good_body`);
    a function whose prompts need more (e.g. a mask-tracking function) passes its own.
    ``max_body_size`` is the trigger's ``maxRequestBodySize``: one case goes just over it.
    """
    base = good_body(config.kind, config) if base is None else base
    specific = _KIND_SPECIFIC.get(config.kind)
    return _common(config.kind, base, max_body_size) + (specific(config, base) if specific else [])


def extra_fields_body(kind: str, base: Mapping[str, Any] | None = None, config: FunctionConfig | None = None) -> bytes:
    """A good body with unknown extra fields, which must be ignored (200)."""
    body = dict(good_body(kind, config) if base is None else base)
    body.update({"unknown_field": {"nested": [1, 2]}, "quality": "original", "frame": 3})
    return _json(body)
