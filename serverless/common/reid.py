"""ReID contract: two frames and their boxes → for each box of frame 0, its match in frame 1 (§4.4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from nuclio_sdk import Response
from PIL import Image

from common import fields
from common.config import Limits, load_limits
from common.errors import BadModelOutput, BadRequest
from common.handling import serve
from common.image import decode_image
from common.labels import FunctionConfig

DEFAULT_THRESHOLD = 0.5
DEFAULT_MAX_DISTANCE = 50.0


@dataclass(frozen=True, kw_only=True)
class ReidRequest:
    """A parsed ReID request; boxes are (N, 4) arrays of (xtl, ytl, xbr, ybr)."""

    image0: Image.Image
    image1: Image.Image
    boxes0: np.ndarray
    boxes1: np.ndarray
    threshold: float
    """Largest cosine distance accepted for a match."""
    max_distance: float
    """Largest distance in pixels between box centres accepted for a match."""


class Reid(Protocol):
    """What a ReID model handler provides."""

    config: FunctionConfig

    def infer(self, request: ReidRequest) -> Sequence[int]:
        """Return, for each box of frame 0, an index into ``boxes1`` or -1."""
        ...


def _boxes(body: Mapping[str, Any], name: str, limits: Limits) -> np.ndarray:
    raw = fields.object_list(body, name, max_items=limits.max_points)
    if raw is None:
        raise BadRequest(f"{name!r} is required")
    boxes = np.zeros((len(raw), 4), dtype=np.float64)
    for index, item in enumerate(raw):
        points = item.get("points") if isinstance(item, Mapping) else item
        if not isinstance(points, list) or len(points) < 4:
            raise BadRequest(f"{name}[{index}] must be a shape with at least 4 points, got {item!r}")
        boxes[index] = fields.box(points[:4], f"{name}[{index}]")
    return boxes


def parse_request(body: Mapping[str, Any], limits: Limits | None = None) -> ReidRequest:
    """Validate a ReID request body (boxes are CVAT shape dicts or bare 4-number lists)."""
    limits = limits or load_limits()
    threshold = fields.number(body, "threshold", DEFAULT_THRESHOLD, low=0.0, high=2.0)
    max_distance = fields.number(body, "max_distance", DEFAULT_MAX_DISTANCE, low=0.0)
    return ReidRequest(
        image0=decode_image(body.get("image0"), field="image0", limits=limits),
        image1=decode_image(body.get("image1"), field="image1", limits=limits),
        boxes0=_boxes(body, "boxes0", limits),
        boxes1=_boxes(body, "boxes1", limits),
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
        max_distance=DEFAULT_MAX_DISTANCE if max_distance is None else max_distance,
    )


def handle(context: Any, event: Any, model: Reid, limits: Limits | None = None) -> Response:
    """Serve one ReID event; the answer is a JSON array of ints wrapped in a Response."""

    def run(body: Mapping[str, Any]) -> list[int]:
        request = parse_request(body, limits)
        matches = [int(v) for v in model.infer(request)]
        if len(matches) != len(request.boxes0) or any(not -1 <= m < len(request.boxes1) for m in matches):
            raise BadModelOutput(f"reid returned {matches} for {len(request.boxes0)}×{len(request.boxes1)} boxes")
        return matches

    return serve(context, event, run)
