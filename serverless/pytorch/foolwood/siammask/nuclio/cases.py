"""Harness cases for SiamMask: they need the SiamMask code and weights, which only the image has.

Point ``SIAMMASK_HOME`` at a clone of foolwood/SiamMask (Cython helpers built with make.sh) and
``SIAMMASK_WEIGHTS`` at SiamMask_DAVIS.pth to run them; the state handling and geometry are
unit-tested without them (tests/test_siammask_state.py).
"""

import os
from pathlib import Path

from cvat_serverless.harness import Case, Step, expect, sample_image


def _skip_reason() -> str | None:
    home = Path(os.environ.get("SIAMMASK_HOME", "/opt/nuclio/SiamMask"))
    if not (home / "experiments/siammask_sharp/custom.py").exists():
        return f"the SiamMask code is not here ({home}); set SIAMMASK_HOME to a clone built with make.sh"
    if not list((home / "utils/pyvotkit").glob("region*.so")):
        return f"SiamMask's Cython helpers are not built in {home} (run make.sh)"
    if not Path(os.environ.get("SIAMMASK_WEIGHTS", home / "SiamMask_DAVIS.pth")).exists():
        return "SiamMask_DAVIS.pth is not available here; set SIAMMASK_WEIGHTS"
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
