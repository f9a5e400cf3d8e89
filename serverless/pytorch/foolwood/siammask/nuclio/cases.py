"""Harness cases for SiamMask: they need the SiamMask code (not on PyPI), which only the image has.

Point ``SIAMMASK_HOME`` at foolwood/SiamMask checked out at the yaml's commit (Cython helpers built
with make.sh) to run them. Without ``SIAMMASK_WEIGHTS`` they run on seeded random weights of the
real architecture (see :func:`environment`); the state handling and geometry are unit-tested
without the code (tests/test_siammask_state.py).
"""

import json
import os
import sys
from pathlib import Path

from cvat_serverless.harness import Case, Step, expect, sample_image


def _skip_reason() -> str | None:
    home = Path(os.environ.get("SIAMMASK_HOME", "/opt/nuclio/SiamMask"))
    if not (home / "experiments/siammask_sharp/custom.py").exists():
        return f"the SiamMask code is not here ({home}); set SIAMMASK_HOME to a clone built with make.sh"
    if not list((home / "utils/pyvotkit").glob("region*.so")):
        return f"SiamMask's Cython helpers are not built in {home} (run make.sh)"
    weights = os.environ.get("SIAMMASK_WEIGHTS")
    if weights and not Path(weights).exists():
        return f"SIAMMASK_WEIGHTS names a missing file ({weights})"
    return None


def environment(workdir: Path) -> dict[str, str]:
    """``SIAMMASK_WEIGHTS`` as given, else seeded random weights of the real SiamMask-sharp network.

    Random heads make SiamMask's box regression overflow ``exp`` and its mask arbitrary, so the
    last layers of the box and refine heads are set so that every box delta is 0 and the mask is
    empty: the tracker then keeps its box and takes upstream's empty-mask path, and the
    contract (shapes, states, a second call from the state) is what the cases check.
    """
    if os.environ.get("SIAMMASK_WEIGHTS"):
        return {}
    import torch

    path = workdir / "siammask-random.pth"
    if not path.exists():
        home = Path(os.environ.get("SIAMMASK_HOME", "/opt/nuclio/SiamMask"))
        for folder in (home, home / "experiments" / "siammask_sharp"):
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
        from custom import Custom  # type: ignore[import-not-found]

        settings = json.loads((home / "experiments/siammask_sharp/config_davis.json").read_text())
        torch.manual_seed(0)
        model = Custom(anchors=settings["anchors"])
        with torch.no_grad():
            model.rpn_model.loc.head[3].weight.zero_()
            model.rpn_model.loc.head[3].bias.zero_()
            model.refine_model.post2.weight.zero_()
            model.refine_model.post2.bias.fill_(-10.0)
        torch.save({"state_dict": model.state_dict()}, path)
    return {"SIAMMASK_WEIGHTS": str(path)}


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
