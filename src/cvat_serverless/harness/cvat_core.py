"""How CVAT 2.73's browser side reads an interactor answer, rewritten here to check ours against it.

Read from CVAT v2.73.0: ``cvat-core/src/lambda-manager.ts`` (``call``: a legacy ``{"mask"}`` of
dense rows becomes one mask shape whose RLE box is ``[0, 0, W-1, H-1]`` of the *rows*, i.e. it is
drawn from the image's top-left corner; a ``{"shapes"}`` answer keeps each item's points, its
attributes only when every one is ``{spec_id: number, value: string}``, and ``type`` defaulting to
mask), ``cvat-core/src/rle-utils.ts`` (RLE starts with the zero run) and ``tools-control.tsx``
(only ``mask`` shapes are drawn; the attribute with ``spec_id`` 0 is the confidence). Anything
the browser would choke on (``atob`` of a missing blob, a non-list ``shapes``) is an assertion
error here, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PlacedMask:
    """A mask where CVAT's UI draws it: a full-image bitmap, and the confidence the slider shows."""

    bitmap: np.ndarray
    confidence: float | None


def rle_to_mask(rle: list[int], width: int, height: int) -> np.ndarray:
    """``rle2Mask``: alternating runs from a zero run; like the browser, an RLE that does not cover
    the box exactly is an error (the browser would write past or leave part of its array)."""
    counts = np.asarray(rle, dtype=np.int64)
    assert (counts >= 0).all(), f"negative run length in {rle[:20]}"
    assert int(counts.sum()) == width * height, f"runs cover {int(counts.sum())} pixels, the box has {width * height}"
    values = np.arange(counts.size) % 2 == 1
    return np.repeat(values, counts).reshape(height, width)


def wrap_answer(answer: Any) -> list[dict[str, Any]]:
    """cvat-core's ``LambdaManager.call`` for an interactor: the list of shapes the UI receives."""
    assert isinstance(answer, dict), f"an interactor answer is a JSON object, got {type(answer).__name__}"
    if "mask" in answer:
        rows = answer["mask"]
        height, width = len(rows), len(rows[0]) if rows else 0
        flat = np.asarray(rows, dtype=np.float64).ravel() if rows else np.zeros(0)
        runs = _mask2rle(flat)
        points = [0, 0, 0, 0, 0] if len(runs) < 2 else [*runs, 0, 0, width - 1, height - 1]
        return [{"points": points, "type": "mask", "attributes": []}]
    shapes = answer.get("shapes")
    assert isinstance(shapes, list), f"cvat-core needs 'mask' or a 'shapes' list, got keys {sorted(answer)}"
    wrapped = []
    for item in shapes:
        attributes = item.get("attributes")
        valid = isinstance(attributes, list) and all(
            isinstance(a, dict)
            and isinstance(a.get("spec_id"), (int, float))
            and not isinstance(a.get("spec_id"), bool)
            and isinstance(a.get("value"), str)
            for a in attributes
        )
        wrapped.append(
            {
                "points": item.get("points"),
                "attributes": attributes if valid else [],
                "type": item.get("type") or "mask",
            }
        )
    return wrapped


def _mask2rle(flat: np.ndarray) -> list[int]:
    if flat.size == 0:
        return [0]
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate(([0], changes, [flat.size]))).tolist()
    return [0, *counts] if flat[0] > 0 else counts


def place(answer: Any, width: int, height: int) -> list[PlacedMask]:
    """Every mask of ``answer`` placed on a ``width``×``height`` frame as CVAT's UI places it."""
    placed = []
    for shape in wrap_answer(answer):
        if shape["type"] != "mask":
            continue
        points = shape["points"]
        assert isinstance(points, list) and len(points) >= 5, (
            f"a mask's points are RLE + 4 box numbers: {points!r:.100}"
        )
        xtl, ytl, xbr, ybr = (int(v) for v in points[-4:])
        assert [xtl, ytl, xbr, ybr] == list(points[-4:]), f"mask box {points[-4:]} is not integral"
        crop = rle_to_mask(points[:-4], xbr - xtl + 1, ybr - ytl + 1)
        full = np.zeros((height, width), dtype=bool)
        # The UI draws the crop at the box on the canvas; what falls outside the frame is not shown.
        full[max(ytl, 0) : ybr + 1, max(xtl, 0) : xbr + 1] = crop[max(-ytl, 0) :, max(-xtl, 0) :][
            : max(0, min(ybr + 1, height) - max(ytl, 0)), : max(0, min(xbr + 1, width) - max(xtl, 0))
        ]
        confidence = next((float(a["value"]) for a in shape["attributes"] if a["spec_id"] == 0), None)
        placed.append(PlacedMask(full, confidence))
    return placed
