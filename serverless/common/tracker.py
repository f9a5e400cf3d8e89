"""Tracker contract: ``{image, shapes}`` starts, ``{image, states}`` continues (contract §4.3).

The answer is ``{"shapes": [...], "states": [...]}`` with one entry per object. How a state
is made safe (signed inline JSON, or an opaque reference into a store) is the job of the
function's state codec; this module only parses the envelope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from nuclio_sdk import Response
from PIL import Image

from common import fields
from common.config import Limits, load_limits
from common.errors import BadModelOutput, BadRequest
from common.handling import serve
from common.image import decode_image
from common.labels import FunctionConfig


@dataclass(frozen=True, kw_only=True)
class TrackedShape:
    """A shape to start tracking: its type and flat points."""

    type: str
    points: tuple[float, ...]


@dataclass(frozen=True, kw_only=True)
class TrackerRequest:
    """A parsed tracker request: ``shapes[i]`` or ``states[i]`` (or both) is set for each object."""

    image: Image.Image
    shapes: tuple[TrackedShape | None, ...]
    states: tuple[Any, ...]
    """Raw states as the client sent them (None for objects being started)."""
    threshold: float | None = None
    """The optional ``threshold`` CVAT passes to every kind (None when absent)."""


class Tracker(Protocol):
    """What a tracker model handler provides."""

    config: FunctionConfig

    def infer(self, request: TrackerRequest) -> tuple[Sequence[Any], Sequence[Any]]:
        """Return (shapes, states), one entry per object of the request."""
        ...


def supported_shape_types(config: FunctionConfig) -> tuple[str, ...]:
    """The declared ``supported_shape_types`` annotation, or ``("rectangle",)`` (legacy API)."""
    raw = config.annotations.get("supported_shape_types", "")
    declared = tuple(part.strip() for part in raw.split(",") if part.strip())
    return declared or ("rectangle",)


def _parse_shape(raw: Any, index: int, allowed: tuple[str, ...]) -> TrackedShape | None:
    where = f"shapes[{index}]"
    if raw is None:
        return None
    if isinstance(raw, Mapping):
        shape_type, points = raw.get("type"), raw.get("points")
    else:
        shape_type, points = "rectangle", raw
    if shape_type not in allowed:
        raise BadRequest(f"this function does not support shapes of type {shape_type!r}; it tracks {list(allowed)}")
    if not isinstance(points, list) or len(points) < 4 or len(points) % 2:
        raise BadRequest(f"{where} must have an even number (≥ 4) of coordinates, got {points!r}")
    values = tuple(fields.coordinate(v, where) for v in points)
    if shape_type == "rectangle":
        fields.box(list(values[:4]), where)
    return TrackedShape(type=str(shape_type), points=values)


def parse_request(body: Mapping[str, Any], config: FunctionConfig, limits: Limits | None = None) -> TrackerRequest:
    """Validate a tracker request body: start (``shapes``), continue (``states``) or both."""
    limits = limits or load_limits()
    image = decode_image(body.get("image"), limits=limits)
    shapes_raw = fields.object_list(body, "shapes", max_items=limits.max_points)
    states_raw = fields.object_list(body, "states", max_items=limits.max_points)
    if shapes_raw is None and not states_raw:
        raise BadRequest("send 'shapes' to start tracking or 'states' to continue")
    states = list(states_raw or [])
    shapes_raw = shapes_raw if shapes_raw is not None else [None] * len(states)
    count = max(len(shapes_raw), len(states))
    allowed = supported_shape_types(config)
    shapes = [_parse_shape(item, i, allowed) for i, item in enumerate(shapes_raw)] + [None] * (count - len(shapes_raw))
    states += [None] * (count - len(states))
    for index, (shape, state) in enumerate(zip(shapes, states, strict=True)):
        if shape is None and state is None:
            raise BadRequest(f"object {index} has neither a shape nor a state")
    return TrackerRequest(
        image=image, shapes=tuple(shapes), states=tuple(states), threshold=fields.threshold(body, None)
    )


def handle(context: Any, event: Any, model: Tracker, limits: Limits | None = None) -> Response:
    """Serve one tracker event; checks that the model answers one shape and state per object."""

    def run(body: Mapping[str, Any]) -> dict[str, list[Any]]:
        request = parse_request(body, model.config, limits)
        shapes, states = model.infer(request)
        if len(shapes) != len(request.shapes) or len(states) != len(request.shapes):
            raise BadModelOutput(
                f"tracker returned {len(shapes)} shapes and {len(states)} states for {len(request.shapes)} objects"
            )
        return {"shapes": list(shapes), "states": list(states)}

    return serve(context, event, run)


def shape_bitmap(shape: TrackedShape, size: tuple[int, int]) -> Any:
    """The H×W bool bitmap of a tracked mask (CVAT's RLE + box), polygon or rectangle."""
    from common.masks import polygon_to_bitmap, rle_to_bitmap

    try:
        if shape.type == "mask":
            return rle_to_bitmap(shape.points, size)
        if shape.type == "rectangle":
            x0, y0, x1, y1 = shape.points[:4]
            return polygon_to_bitmap([x0, y0, x1, y0, x1, y1, x0, y1], size)
        xs, ys = shape.points[0::2], shape.points[1::2]
        area = 0.5 * abs(sum(xs[i] * ys[i - 1] - xs[i - 1] * ys[i] for i in range(len(xs))))
        if len(xs) < 3 or area < 1.0:
            raise ValueError(f"the polygon encloses {area:g} px² (at least 3 points and 1 px² are needed)")
        return polygon_to_bitmap(shape.points, size)
    except ValueError as error:
        raise BadRequest(f"the {shape.type} to track is malformed: {error}") from None


def shape_from_bitmap(bitmap: Any, shape_type: str) -> dict[str, Any] | None:
    """A tracked object's answer shape of ``shape_type`` (mask, polygon or rectangle), or None when it vanished.

    A rectangle is the mask's box in CVAT's continuous coordinates: pixels ``xtl..xbr`` span
    ``[xtl, xbr + 1]``, so a box prompted from a rectangle comes back the same size.
    """
    from common.masks import bitmap_to_rle, mask_bbox, mask_to_polygon

    if shape_type == "mask":
        rle = bitmap_to_rle(bitmap)
        return None if rle is None else {"type": "mask", "points": rle}
    if shape_type == "rectangle":
        box = mask_bbox(bitmap)
        if box is None:
            return None
        xtl, ytl, xbr, ybr = box
        return {"type": "rectangle", "points": [float(xtl), float(ytl), float(xbr + 1), float(ybr + 1)]}
    polygon = mask_to_polygon(bitmap)
    return None if not polygon or len(polygon) < 6 else {"type": "polygon", "points": polygon}


def box_center_size(points: Sequence[float]) -> tuple[tuple[float, float], tuple[float, float]]:
    """``[xtl, ytl, xbr, ybr]`` → ``((cx, cy), (w, h))``, the form Siamese trackers start from."""
    xtl, ytl, xbr, ybr = (float(v) for v in points[:4])
    return ((xtl + xbr) / 2, (ytl + ybr) / 2), (xbr - xtl, ybr - ytl)


def bounding_box(points: Sequence[float], width: int, height: int) -> list[float]:
    """The axis-aligned box ``[xtl, ytl, xbr, ybr]`` of flat points (e.g. a rotated box), clipped to the image."""
    xs, ys = points[0::2], points[1::2]
    return [
        float(min(max(min(xs), 0.0), width - 1)),
        float(min(max(min(ys), 0.0), height - 1)),
        float(min(max(max(xs), 0.0), width - 1)),
        float(min(max(max(ys), 0.0), height - 1)),
    ]
