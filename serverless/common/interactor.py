"""Interactor contract: ``{image, pos_points, neg_points, obj_bbox?, threshold?}`` → CVAT mask shapes (§4.2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from nuclio_sdk import Response
from PIL import Image

from common import fields
from common.config import Limits, load_limits
from common.errors import BadModelOutput, BadRequest, InvalidFunctionConfig
from common.handling import serve
from common.image import decode_image
from common.labels import FunctionConfig
from common.masks import bitmap_to_rle


@dataclass(frozen=True, kw_only=True)
class InteractorRequest:
    """A parsed interactor request; points are (N, 2) float arrays of (x, y) inside the image."""

    image: Image.Image
    pos_points: np.ndarray
    neg_points: np.ndarray
    obj_bbox: tuple[float, float, float, float] | None
    """(x1, y1, x2, y2) clipped to the image, or None."""
    threshold: float | None
    text_prompts: tuple[str, ...] = ()
    """What CVAT 2.73 passes through from the client (``text_prompts``); models without text ignore it."""


@dataclass(frozen=True, kw_only=True)
class InteractorRules:
    """What a function requires of the prompts, mirroring its yaml annotations."""

    min_pos_points: int = 1
    min_neg_points: int = 0
    box_required: bool = False
    """True for ``startswith_box`` functions: a request without ``obj_bbox`` is a 400."""
    box_or_points: bool = False
    """True when either a box or ``min_pos_points`` clicks suffice (``startswith_box_optional``)."""
    max_pos_points: int | None = None
    """At most this many positive clicks (annotation ``max_pos_points``, which CVAT itself ignores);
    None means no limit. Equal to ``min_pos_points`` for a function that needs an exact count."""
    pos_points_meaning: str = ""
    """What the positive clicks must be, named in the count error (e.g. DEXTR's extreme points)."""

    def __post_init__(self) -> None:
        if self.max_pos_points is not None and self.max_pos_points < self.min_pos_points:
            raise InvalidFunctionConfig(
                f"max_pos_points {self.max_pos_points} is below min_pos_points {self.min_pos_points}"
            )

    @classmethod
    def from_config(cls, config: FunctionConfig) -> InteractorRules:
        """Read the rules from the yaml annotations CVAT's UI also reads (one source of truth)."""
        annotations = config.annotations
        return cls(
            min_pos_points=int(annotations.get("min_pos_points", "1") or 1),
            min_neg_points=max(0, int(annotations.get("min_neg_points", "0") or 0)),
            box_required=bool(annotations.get("startswith_box")),
            box_or_points=bool(annotations.get("startswith_box_optional")),
            max_pos_points=int(annotations["max_pos_points"]) if annotations.get("max_pos_points") else None,
        )

    def count_problem(self, count: int, has_box: bool) -> str | None:
        """Why ``count`` positive clicks are refused (with or without a box), or None when they are fine."""
        exact = self.max_pos_points == self.min_pos_points
        meaning = f" ({self.pos_points_meaning})" if self.pos_points_meaning else ""
        if count < self.min_pos_points and not (self.box_or_points and has_box):
            needed = "exactly" if exact else "at least"
            alternative = " (or an 'obj_bbox')" if self.box_or_points else ""
            return f"'pos_points' has {count} points; this function needs {needed} {self.min_pos_points}" + (
                meaning + alternative
            )
        if self.max_pos_points is not None and count > self.max_pos_points:
            needed = "exactly" if exact else "at most"
            return f"'pos_points' has {count} points; this function needs {needed} {self.max_pos_points}{meaning}"
        return None


class Interactor(Protocol):
    """What an interactor model handler provides."""

    config: FunctionConfig
    rules: InteractorRules

    def infer(self, request: InteractorRequest) -> Any:
        """Return a full-image bitmap (H×W), a :class:`MaskResult` or a ready payload/Response."""
        ...


def parse_request(body: Mapping[str, Any], rules: InteractorRules, limits: Limits | None = None) -> InteractorRequest:
    """Validate an interactor request body against the function's prompt rules."""
    limits = limits or load_limits()
    image = decode_image(body.get("image"), limits=limits)
    size = image.size
    pos = fields.point_list(body, "pos_points", size=size, max_points=limits.max_points)
    neg = fields.point_list(body, "neg_points", size=size, max_points=limits.max_points)
    raw_box = body.get("obj_bbox")
    obj_bbox = None if raw_box in (None, []) else fields.box(raw_box, "obj_bbox", size=size)
    if rules.box_required and obj_bbox is None:
        raise BadRequest("'obj_bbox' is required: this function starts from a bounding box")
    problem = rules.count_problem(len(pos), obj_bbox is not None)
    if problem is not None:
        raise BadRequest(problem)
    if len(neg) < rules.min_neg_points:
        raise BadRequest(f"'neg_points' has {len(neg)} points; this function needs at least {rules.min_neg_points}")
    return InteractorRequest(
        image=image,
        pos_points=pos,
        neg_points=neg,
        obj_bbox=obj_bbox,
        threshold=fields.threshold(body, None),
        text_prompts=_text_prompts(body.get("text_prompts"), limits),
    )


def _text_prompts(raw: Any, limits: Limits) -> tuple[str, ...]:
    if raw in (None, "", []):
        return ()
    prompts = [raw] if isinstance(raw, str) else raw
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        raise BadRequest("'text_prompts' must be a string or a list of strings")
    if len(prompts) > limits.max_points:
        raise BadRequest(f"'text_prompts' has {len(prompts)} items; at most {limits.max_points} are accepted")
    return tuple(prompts)


@dataclass(frozen=True)
class MaskResult:
    """What a model found: a full-image bitmap (H×W) and the model's own confidence, when it has one."""

    bitmap: np.ndarray
    confidence: float | None = None


def click_prompts(request: InteractorRequest) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Point prompts as SAM and SAM 2 take them: (N, 2) coordinates, positive clicks first, and their
    labels (1 positive, 0 negative); ``(None, None)`` without clicks."""
    if not len(request.pos_points) and not len(request.neg_points):
        return None, None
    points = np.concatenate([request.pos_points, request.neg_points]).astype(np.float32)
    labels = np.array([1] * len(request.pos_points) + [0] * len(request.neg_points), dtype=np.int32)
    return points, labels


def best_mask(masks: np.ndarray, scores: np.ndarray) -> MaskResult:
    """The highest-scoring of a model's candidate masks, its score (clipped to [0, 1]) as the confidence."""
    best = int(np.argmax(scores))
    return MaskResult(np.asarray(masks[best]) > 0, float(np.clip(scores[best], 0.0, 1.0)))


def mask_shapes(bitmap: np.ndarray, confidence: float | None = None) -> dict[str, Any]:
    """The answer CVAT 2.73 reads from an interactor: ``{"shapes": [{"type": "mask", ...}]}``.

    ``points`` is CVAT's RLE of the mask's inclusive bounding box (run lengths, row-major,
    starting with the zero run) followed by ``xtl, ytl, xbr, ybr`` in image coordinates, which
    is where cvat-core places it. A confidence goes into the attribute with ``spec_id`` 0, the
    one CVAT's UI reads for its confidence slider. An empty mask answers no shape.
    """
    rle = bitmap_to_rle(np.asarray(bitmap))
    if rle is None:
        return {"shapes": []}
    attributes = [] if confidence is None else [{"spec_id": 0, "value": f"{float(confidence):.4f}"}]
    return {"shapes": [{"type": "mask", "points": rle, "attributes": attributes}]}


def handle(context: Any, event: Any, model: Interactor, limits: Limits | None = None) -> Response:
    """Serve one interactor event with ``model``; a bitmap or :class:`MaskResult` becomes :func:`mask_shapes`."""

    def run(body: Mapping[str, Any]) -> Any:
        request = parse_request(body, model.rules, limits)
        result = model.infer(request)
        if isinstance(result, np.ndarray):
            result = MaskResult(result)
        if isinstance(result, MaskResult):
            if result.bitmap.shape[:2] != (request.image.height, request.image.width):
                raise BadModelOutput(f"interactor mask shape {result.bitmap.shape} differs from the image")
            return mask_shapes(result.bitmap, result.confidence)
        return result

    return serve(context, event, run)
