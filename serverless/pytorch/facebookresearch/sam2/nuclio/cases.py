"""Harness cases on a tiny SAM 2.1 built from the packaged hiera-t config (contract checks, not accuracy)."""

import base64
import json
from pathlib import Path

import numpy as np

from cvat_serverless.harness import Case, Result, expect, generated_image, sample_image
from cvat_serverless.harness.sam2_models import TINY_SAM2_OVERRIDES, write_tiny_sam2

# The tiny model's feature shapes; hiera-large gives 1×256×64×64, 1×32×256×256 and 1×64×128×128.
SHAPES = {"image_embed": (1, 32, 16, 16), "high_res_feats_0": (1, 4, 64, 64), "high_res_feats_1": (1, 8, 32, 32)}


def environment(workdir: Path) -> dict[str, str]:
    checkpoint = write_tiny_sam2(workdir / "tiny-sam2.pt")
    return {
        "SAM2_MODEL": "tiny",
        "SAM2_CHECKPOINT": str(checkpoint),
        "SAM2_HYDRA_OVERRIDES": json.dumps(TINY_SAM2_OVERRIDES),
        "CVAT_FN_DEVICE": "cpu",
    }


def features_check(result: Result) -> None:
    assert result.status == 200, result.payload
    for name, shape in SHAPES.items():
        raw = base64.b64decode(result.payload[name])
        assert len(raw) == 4 * int(np.prod(shape)), name
        assert np.isfinite(np.frombuffer(raw, dtype="<f4")).all()


def _square() -> np.ndarray:
    image = np.full((240, 320, 3), 30, np.uint8)
    image[60:180, 100:220] = 220
    return image


CASES = [
    Case(
        "image only: encoder features for the browser decoder",
        body={"image": sample_image("coffee")},
        check=features_check,
    ),
    Case(
        "clicks: a mask decoded on the server",
        body={"image": sample_image("coffee"), "pos_points": [[300, 200]], "neg_points": [[20, 20]]},
        check=expect.interactor_mask(min_area=1, confidence=True),
    ),
    Case(
        "a box alone",
        body={
            "image": generated_image("sam2-square", _square),
            "pos_points": [],
            "neg_points": [],
            "obj_bbox": [[90, 50], [230, 190]],
        },
        check=expect.interactor_mask(min_area=1, confidence=True),
    ),
]
