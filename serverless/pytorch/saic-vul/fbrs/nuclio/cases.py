"""Harness cases for f-BRS-B on the full HRNet-18 itermask architecture with random weights (contract, not accuracy)."""

from pathlib import Path

import numpy as np

from cvat_serverless.harness import Case, expect, generated_image
from cvat_serverless.harness.ritm_models import write_random_ritm_checkpoint


def environment(workdir: Path) -> dict[str, str]:
    return {"RITM_CHECKPOINT": str(write_random_ritm_checkpoint(workdir / "h18-random.pth")), "CVAT_FN_DEVICE": "cpu"}


def _square() -> np.ndarray:
    image = np.full((120, 160, 3), 30, np.uint8)
    image[30:90, 50:110] = 220
    return image


SQUARE = generated_image("ritm-square", _square)

CASES = [
    Case(
        "one positive click",
        body={"image": SQUARE, "pos_points": [[80, 60]], "neg_points": []},
        check=expect.interactor_mask(min_area=1),
    ),
    Case(
        "positive and negative clicks",
        body={"image": SQUARE, "pos_points": [[80, 60], [60, 40]], "neg_points": [[5, 5], [150, 110]]},
        check=expect.interactor_mask(min_area=1),
    ),
]
