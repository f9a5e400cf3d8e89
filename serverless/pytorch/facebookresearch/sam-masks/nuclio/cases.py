"""Harness cases on a tiny Segment Anything of the real classes: masks decoded on the server."""

from pathlib import Path

import numpy as np

from cvat_serverless.harness import Case, expect, generated_image, sample_image
from cvat_serverless.harness.sam_models import tiny_sam_env


def environment(workdir: Path) -> dict[str, str]:
    return tiny_sam_env(workdir)


def _square() -> np.ndarray:
    image = np.full((240, 320, 3), 30, np.uint8)
    image[120:220, 190:300] = 220
    return image


CASES = [
    Case(
        "clicks: a mask with SAM's predicted IoU as its confidence",
        body={"image": sample_image("coffee"), "pos_points": [[300, 200]], "neg_points": [[20, 20]]},
        check=expect.interactor_mask(min_area=1, confidence=True),
    ),
    Case(
        "a box alone, away from the top-left corner",
        body={
            "image": generated_image("sam-square-low-right", _square),
            "pos_points": [],
            "neg_points": [],
            "obj_bbox": [[180, 110], [310, 230]],
        },
        check=expect.interactor_mask(min_area=1, confidence=True),
    ),
    Case(
        "neither clicks nor a box",
        body={"image": sample_image("coffee"), "pos_points": [], "neg_points": []},
        check=expect.error(400, mentions=["pos_points"]),
    ),
]
