"""Harness cases on a tiny SAM 2.1 (packaged hiera-t config, random weights): the tracker contract.

Random weights track nothing in particular, so the checks are about the protocol: one shape (or
None) and one opaque state per object, states that continue on the next frame, masks in CVAT's RLE.
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
        "rectangles are refused: the function declares mask,polygon",
        body={"image": FRAMES[0], "shapes": [{"type": "rectangle", "points": [1, 1, 20, 20]}]},
        check=expect.error(400, mentions=["rectangle"]),
    ),
    Case(
        "a forged state",
        body={"image": FRAMES[0], "states": ["eyJyZWYiOiJ4In0.0000"]},
        check=expect.error(400, mentions=["state"]),
    ),
]
