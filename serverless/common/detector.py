"""Detector contract: ``{image, threshold?}`` → list of shapes/tags (contract §4.1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from nuclio_sdk import Response
from PIL import Image

from common import fields
from common.config import Limits, load_limits
from common.handling import serve
from common.image import decode_image
from common.labels import FunctionConfig
from common.shapes import check_detections


@dataclass(frozen=True, kw_only=True)
class DetectorRequest:
    """A parsed detector request."""

    image: Image.Image
    """The frame, RGB."""
    threshold: float
    """Minimum confidence to report; the function's default when the caller sent none."""


class Detector(Protocol):
    """What a detector model handler provides."""

    config: FunctionConfig
    default_threshold: float

    def infer(self, request: DetectorRequest) -> Sequence[Mapping[str, Any]]:
        """Return shapes built with :mod:`common.shapes` factories."""
        ...


def parse_request(
    body: Mapping[str, Any], *, default_threshold: float, limits: Limits | None = None
) -> DetectorRequest:
    """Validate a detector request body; unknown fields are ignored."""
    limits = limits or load_limits()
    image = decode_image(body.get("image"), limits=limits)
    value = fields.threshold(body, default_threshold)
    return DetectorRequest(image=image, threshold=default_threshold if value is None else value)


def handle(context: Any, event: Any, model: Detector, limits: Limits | None = None) -> Response:
    """Serve one detector event with ``model``; always returns a Response."""

    def run(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        request = parse_request(body, default_threshold=model.default_threshold, limits=limits)
        return check_detections(list(model.infer(request)), model.config)

    return serve(context, event, run)
