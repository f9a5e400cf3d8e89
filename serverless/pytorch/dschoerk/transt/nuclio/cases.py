"""Harness cases for TransT: they need the TransT code (pysot_toolkit, ltr, util), which only the image has.

Put dschoerk/TransT, checked out at the yaml's commit, on ``PYTHONPATH`` to run them. Without
``TRANST_WEIGHTS`` they run on a seeded random TransT saved the way ltr's trainer saves it (see
:func:`environment`); the state handling is unit-tested without the code (tests/test_transt_state.py).
"""

import importlib.util
import math
import os
from pathlib import Path

from cvat_serverless.harness import Case, Step, expect, sample_image
from cvat_serverless.harness.discovery import load_module


def _skip_reason() -> str | None:
    if importlib.util.find_spec("pysot_toolkit") is None:
        return "the TransT code (pysot_toolkit) is not importable here; put a clone of dschoerk/TransT on PYTHONPATH"
    weights = os.environ.get("TRANST_WEIGHTS")
    if weights and not os.path.exists(weights):
        return f"TRANST_WEIGHTS names a missing file ({weights})"
    return None


BOX_FRACTION = 0.25  # the random network's box: centred in the search region, a quarter of its side


def environment(workdir: Path) -> dict[str, str]:
    """``TRANST_WEIGHTS`` as given, else a seeded random TransT-ResNet50 in ltr's checkpoint layout.

    The checkpoint holds what ltr's trainer pickles (the network constructor, the settings, training
    stats), so the allow-listed weights_only load is exercised. The box head's last layer is set to
    a constant box (centre of the search region, ``BOX_FRACTION`` of its side): random box outputs
    say nothing, a known one checks the crop/scale arithmetic around the network.
    """
    if os.environ.get("TRANST_WEIGHTS"):
        return {}
    path = workdir / "transt-random.pth"
    if not path.exists():
        _save_random_checkpoint(path)
    return {"TRANST_WEIGHTS": str(path)}


def _save_random_checkpoint(path: Path) -> None:
    import torch

    transt_compat = load_module(Path(__file__).parent / "transt_compat.py", "transt_compat_for_cases")
    from ltr.admin.model_constructor import NetConstructor  # type: ignore[import-not-found]
    from ltr.admin.settings import Settings  # type: ignore[import-not-found]
    from ltr.admin.stats import AverageMeter  # type: ignore[import-not-found]

    torch.manual_seed(0)
    network = transt_compat.build_network()
    logit = math.log(BOX_FRACTION / (1 - BOX_FRACTION))
    with torch.no_grad():
        network.bbox_embed.layers[-1].weight.zero_()
        network.bbox_embed.layers[-1].bias.copy_(torch.tensor([0.0, 0.0, logit, logit]))
    settings = Settings()
    settings.__dict__.update(vars(transt_compat.SETTINGS), device="cuda")
    checkpoint = {
        "epoch": 1,
        "actor_type": "TranstActor",
        "net_type": "TransT",
        "net": network.state_dict(),
        "net_info": None,
        "constructor": NetConstructor("transt_resnet50", "ltr.models.tracking.transt", (settings,), {}),
        "stats": {"train": {"Loss/total": AverageMeter()}},
        "settings": settings,
    }
    torch.save(checkpoint, path)


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
