"""Detector contract: ``{image, threshold?}`` → list of shapes/tags (contract §4.1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from nuclio_sdk import Response
from PIL import Image

from common import fields
from common.config import Limits, load_limits
from common.errors import InvalidFunctionConfig
from common.handling import serve
from common.image import decode_frame
from common.labels import FunctionConfig
from common.shapes import check_detections, scale_detections


@dataclass(frozen=True, kw_only=True)
class DetectorRequest:
    """A parsed detector request."""

    image: Image.Image
    """The frame, RGB; reduced when the model declares ``fixed_input_size`` (answer in its coordinates)."""
    threshold: float
    """Minimum confidence to report; the function's default when the caller sent none."""
    scale: int = 1
    """How many frame pixels one ``image`` pixel stands for along each axis (1, 2, 4 or 8)."""
    frame_size: tuple[int, int] | None = None
    """(width, height) of the frame at full resolution; None when ``image`` is the full frame."""


class Detector(Protocol):
    """What a detector model handler provides.

    A model that resizes every frame to one input size may also set ``fixed_input_size`` to that
    (width, height): a JPEG frame is then decoded reduced, never below it, and its answer is mapped
    back to the full frame here (``infer`` works in the coordinates of ``request.image``).
    """

    config: FunctionConfig
    default_threshold: float

    def infer(self, request: DetectorRequest) -> Sequence[Mapping[str, Any]]:
        """Return shapes built with :mod:`common.shapes` factories."""
        ...


def fixed_input_size(model: object) -> tuple[int, int] | None:
    """The model's ``fixed_input_size`` (width, height), or None; anything else is a function bug."""
    size = getattr(model, "fixed_input_size", None)
    if size is None:
        return None
    if not (isinstance(size, tuple) and len(size) == 2 and all(type(v) is int and v > 0 for v in size)):
        raise InvalidFunctionConfig(f"fixed_input_size must be (width, height) in pixels, got {size!r}")
    return size


def parse_request(
    body: Mapping[str, Any],
    *,
    default_threshold: float,
    limits: Limits | None = None,
    input_size: tuple[int, int] | None = None,
) -> DetectorRequest:
    """Validate a detector request body; unknown fields are ignored. ``input_size``: see :class:`Detector`."""
    limits = limits or load_limits()
    frame = decode_frame(body.get("image"), min_size=input_size, limits=limits)
    value = fields.threshold(body, default_threshold)
    return DetectorRequest(
        image=frame.image,
        threshold=default_threshold if value is None else value,
        scale=frame.scale,
        frame_size=frame.size if frame.scale != 1 else None,
    )


def handle(context: Any, event: Any, model: Detector, limits: Limits | None = None) -> Response:
    """Serve one detector event with ``model``; always returns a Response."""

    def run(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        request = parse_request(
            body, default_threshold=model.default_threshold, limits=limits, input_size=fixed_input_size(model)
        )
        items = check_detections(list(model.infer(request)), model.config)
        return scale_detections(items, request.scale, request.frame_size or request.image.size)

    return serve(context, event, run)
