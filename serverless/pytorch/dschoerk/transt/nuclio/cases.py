"""Harness cases for TransT: they need the TransT code (pysot_toolkit) and weights, which only the image has.

Put a clone of dschoerk/TransT on ``PYTHONPATH`` and point ``TRANST_WEIGHTS`` at transt.pth to run
them; the state handling is unit-tested without them (tests/test_transt_state.py).
"""

import importlib.util
import os

from cvat_serverless.harness import Case, Step, expect, sample_image


def _skip_reason() -> str | None:
    if importlib.util.find_spec("pysot_toolkit") is None:
        return "the TransT code (pysot_toolkit) is not importable here; put a clone of dschoerk/TransT on PYTHONPATH"
    if not os.path.exists(os.environ.get("TRANST_WEIGHTS", "/opt/nuclio/transt.pth")):
        return "transt.pth is not available here; set TRANST_WEIGHTS"
    return None


SKIP_REASON = _skip_reason()
FACE = [180, 60, 270, 175]

CASES = [
    Case(
        "follow the astronaut's face",
        body={"image": sample_image("astronaut"), "shapes": [FACE], "states": []},
        check=expect.tracker_answer(count=1, near=[FACE], min_iou=0.99),
        steps=[
            Step(
                lambda results: {"image": sample_image("astronaut"), "states": results[-1].payload["states"]},
                expect.tracker_answer(count=1, near=[FACE], min_iou=0.5),
            )
        ],
    )
]
