"""Harness cases on a synthetic IR with DEXTR's input and output (1×4×512×512 → 1×1×512×512).

The synthetic network answers "everything in the crop is the object", so the real loading,
preprocessing, thresholding and paste-back run and the mask must be exactly the padded crop box.
"""

from pathlib import Path

import numpy as np

from cvat_serverless.harness import Case, expect, generated_image
from cvat_serverless.harness.openvino_models import constant_model

HEIGHT, WIDTH = 240, 320
EXTREMES = [[60, 120], [260, 110], [150, 70], [160, 190]]  # left, right, top, bottom


def environment(workdir: Path) -> dict[str, str]:
    ones = np.ones((1, 1, 512, 512), np.float32)
    path = constant_model(workdir / "dextr.xml", "input", [1, 4, 512, 512], {"output": ones})
    return {"DEXTR_MODEL": str(path), "CVAT_FN_OV_PRECISION": "f32"}


def _scene() -> np.ndarray:
    image = np.full((HEIGHT, WIDTH, 3), 35, np.uint8)
    image[70:191, 60:261] = (200, 180, 60)
    return image


def _padded_box() -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[70 - 50 : 190 + 50 + 1, 60 - 50 : 260 + 50 + 1] = True  # clipped by numpy at the borders
    return mask


SCENE = generated_image("dextr-scene", _scene)

CASES = [
    Case(
        "four extreme points: the mask covers the padded crop",
        body={"image": SCENE, "pos_points": EXTREMES, "neg_points": []},
        check=expect.interactor_mask(truth=_padded_box(), min_iou=0.99),
    ),
    Case(
        "three points are refused",
        body={"image": SCENE, "pos_points": EXTREMES[:3], "neg_points": []},
        check=expect.error(400, mentions=["4"]),
    ),
    Case(
        "five points are refused",
        body={"image": SCENE, "pos_points": [*EXTREMES, [100, 100]], "neg_points": []},
        check=expect.error(400, mentions=["exactly 4"]),
    ),
]
