"""Harness cases on a tiny SAM 2.1 (packaged hiera-t config, random weights): the tracker contract.

Random weights track nothing in particular, so the checks are about the protocol: one shape (or
None; never None for a rectangle) and one opaque state per object, states that continue on the next
frame, masks in CVAT's RLE.
"""

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from cvat_serverless.harness import Case, Result, Step, expect, generated_image
from cvat_serverless.harness.sam2_models import TINY_SAM2_OVERRIDES, write_tiny_sam2


def environment(workdir: Path) -> dict[str, str]:
    checkpoint = write_tiny_sam2(workdir / "tiny-sam2.pt")
    return {
        "SAM2_MODEL": "tiny",
        "SAM2_CHECKPOINT": str(checkpoint),
        "SAM2_HYDRA_OVERRIDES": json.dumps(TINY_SAM2_OVERRIDES),
        "CVAT_FN_DEVICE": "cpu",
    }


def _frame(index: int) -> np.ndarray:
    image = np.full((120, 160, 3), 40, np.uint8)
    image[30:70, 40 + 3 * index : 90 + 3 * index] = 210
    return image


FRAMES = [generated_image(f"sam2-tracker-frame-{i}", lambda i=i: _frame(i)) for i in range(3)]
POLYGON = {"type": "polygon", "points": [40, 30, 89, 30, 89, 69, 40, 69]}
MASK = {"type": "mask", "points": [0, 50 * 40, 40, 30, 89, 69]}  # CVAT RLE of a full 50×40 box


def tracked(count: int) -> Callable[[Result], None]:
    base = expect.tracker_answer(count=count)

    def check(result: Result) -> None:
        base(result)
        for shape, state in zip(result.payload["shapes"], result.payload["states"], strict=True):
            assert isinstance(state, str) and len(state) < 512, "states are small signed references"
            assert shape is None or shape["type"] in ("mask", "polygon")

    return check


def tracked_rectangle(result: Result) -> None:
    """CVAT's Trackers tab: one rectangle per object on every frame (its UI maps each answer to a box)."""
    expect.tracker_answer(count=1)(result)
    (shape,) = result.payload["shapes"]
    assert shape is not None and shape["type"] == "rectangle", f"expected a rectangle, got {shape!r:.200}"
    xtl, ytl, xbr, ybr = shape["points"]
    assert 0 <= xtl < xbr <= 160 and 0 <= ytl < ybr <= 120, f"box {shape['points']} outside the 160×120 frame"


def _continue(frame: int) -> Callable[[Sequence[Result]], dict]:
    def body(results: Sequence[Result]) -> dict:
        return {"image": FRAMES[frame], "states": results[-1].payload["states"]}

    return body


CASES = [
    Case(
        "a polygon over three frames",
        body={"image": FRAMES[0], "shapes": [POLYGON]},
        check=tracked(1),
        steps=[Step(_continue(i), tracked(1)) for i in (1, 2)],
    ),
    Case(
        "a mask and a polygon, one state each",
        body={"image": FRAMES[0], "shapes": [MASK, POLYGON], "states": []},
        check=tracked(2),
        steps=[Step(_continue(1), tracked(2))],
    ),
    Case(
        "a rectangle, as CVAT's Trackers tab starts it, over three frames",
        body={"image": FRAMES[0], "shapes": [{"type": "rectangle", "points": [40, 30, 90, 70]}]},
        check=tracked_rectangle,
        steps=[Step(_continue(i), tracked_rectangle) for i in (1, 2)],
    ),
    Case(
        "points are refused: the function declares rectangle,mask,polygon",
        body={"image": FRAMES[0], "shapes": [{"type": "points", "points": [1, 1, 20, 20]}]},
        check=expect.error(400, mentions=["points"]),
    ),
    Case(
        "a forged state",
        body={"image": FRAMES[0], "states": ["eyJyZWYiOiJ4In0.0000"]},
        check=expect.error(400, mentions=["state"]),
    ),
]
