"""A region of interest (``roi`` = [xtl, ytl, xbr, ybr]) as CVAT 2.73's ``ROIHelper`` handles it.

The function only ever sees an image: the gateway crops the frame to the region, moves the
prompts into the crop, calls the function and moves the answer back to full-image coordinates.
Messages are CVAT's own, word for word.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from cvat_serverless.gateway.errors import GatewayError, ValidationFailed

FOUR_INTEGERS = "ROI must contain four integer coordinates: [xtl, ytl, xbr, ybr]"
NON_NEGATIVE = "ROI coordinates must be non-negative"
POSITIVE_SIZE = "ROI size must be positive"
OUTSIDE = "ROI is outside the image"
MIXED_SIZES = "ROI can be used for task annotation only when all processed frames have the same resolution"
PROMPT_PAIRS = "Interactor prompt points must contain point pairs"
# CVAT's ROIHelper raises DRF's ValidationError: the texts above reach the client as a one-item list.


@dataclass(frozen=True)
class Roi:
    """A validated region: top-left inclusive, bottom-right exclusive (PIL's crop box)."""

    xtl: int
    ytl: int
    xbr: int
    ybr: int


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_roi(value: Any) -> Roi | None:
    """CVAT's ``parse_roi`` on the raw JSON of an online call: ``None`` passes, anything malformed is a 400."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 4 or not all(_integer(v) for v in value):
        raise ValidationFailed([FOUR_INTEGERS])
    xtl, ytl, xbr, ybr = value
    if min(value) < 0:
        raise ValidationFailed([NON_NEGATIVE])
    if xbr <= xtl or ybr <= ytl:
        raise ValidationFailed([POSITIVE_SIZE])
    return Roi(xtl, ytl, xbr, ybr)


def validate_task_roi(value: list[int] | None, sizes: Iterable[tuple[int, int]]) -> Roi | None:
    """CVAT's ``validate_task_roi`` over the task's frame sizes (width, height), without decoding frames."""
    roi = parse_roi(value)
    if roi is None:
        return None
    distinct = set(sizes)
    if not distinct:
        return roi
    if len(distinct) != 1:
        raise ValidationFailed([MIXED_SIZES])
    width, height = next(iter(distinct))
    if roi.xbr > width or roi.ybr > height:
        raise ValidationFailed([OUTSIDE])
    return roi


def crop_frame(data: bytes, roi: Roi) -> tuple[str, tuple[int, int]]:
    """Base64 of the frame cropped to ``roi`` in the frame's own format (PNG when it has none), and its size.

    As in CVAT: PIL's crop, re-encoded with PIL's defaults for that format.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            size = image.size
            if roi.xbr > image.width or roi.ybr > image.height:
                raise ValidationFailed([OUTSIDE])
            cropped = image.crop((roi.xtl, roi.ytl, roi.xbr, roi.ybr))
            with io.BytesIO() as output:
                cropped.save(output, format=image.format or "PNG")
                return base64.b64encode(output.getvalue()).decode("ascii"), size
    except OSError as error:
        raise GatewayError(f"the stored frame cannot be cropped: {error}", 500) from None


def translate_prompt_points(points: Any, dx: int, dy: int) -> list[list[Any]] | None:
    """Move ``[[x, y], ...]`` by (dx, dy); CVAT does this for every interactor call, with or without a region."""
    if points is None:
        return None
    try:
        return [[x + dx, y + dy] for x, y in points]
    except (TypeError, ValueError):
        raise ValidationFailed([PROMPT_PAIRS]) from None


def _shift_flat(points: Sequence[Any], dx: int, dy: int) -> list[Any]:
    return [value + (dx if index % 2 == 0 else dy) for index, value in enumerate(points)]


def translate_shapes(shapes: Iterable[MutableMapping[str, Any]], dx: int, dy: int) -> None:
    """Move shapes in place: every point, but only a mask's box (its last four numbers); elements too."""
    for shape in shapes:
        kind = shape.get("type")
        if kind == "tag":
            continue
        if "points" in shape:
            points = shape["points"]
            shape["points"] = (
                [*points[:-4], *_shift_flat(points[-4:], dx, dy)] if kind == "mask" else _shift_flat(points, dx, dy)
            )
        translate_shapes(shape.get("elements", []), dx, dy)


def translate_interactor_answer(answer: Any, roi: Roi, image_size: tuple[int, int]) -> Any:
    """Move an interactor's answer out of the crop, as CVAT 2.73 does.

    - A dense ``{"mask": rows}`` is pasted into a zero mask of the full image at the region: it
      must be exactly the region's size (CVAT fails otherwise; here a 500 that says so).
    - ``{"shapes": [...]}`` are moved like detector shapes (a mask keeps its RLE, its box moves).
    - Anything else (SAM's ``{"blob"}``) passes untouched.
    """
    if not isinstance(answer, MutableMapping):
        return answer
    if "mask" in answer:
        try:
            crop = np.array(answer["mask"])
            full = np.zeros((image_size[1], image_size[0]), dtype=crop.dtype)
            full[roi.ytl : roi.ybr, roi.xtl : roi.xbr] = crop
        except (ValueError, TypeError) as error:
            raise GatewayError(
                f"the interactor's dense mask does not fit the {roi.xbr - roi.xtl}x{roi.ybr - roi.ytl} region: {error}",
                500,
            ) from None
        answer["mask"] = full.tolist()
    if isinstance(answer.get("shapes"), list):
        try:
            translate_shapes((s for s in answer["shapes"] if isinstance(s, MutableMapping)), roi.xtl, roi.ytl)
        except TypeError as error:
            raise GatewayError(f"the interactor answered shapes with invalid points: {error}", 500) from None
    return answer


def frame_sizes(frames: Iterable[Any]) -> list[tuple[int, int]]:
    """(width, height) of stored frames (anything with ``width`` and ``height``)."""
    return [(int(frame.width), int(frame.height)) for frame in frames]


__all__ = [
    "Roi",
    "crop_frame",
    "frame_sizes",
    "parse_roi",
    "translate_interactor_answer",
    "translate_prompt_points",
    "translate_shapes",
    "validate_task_roi",
]
