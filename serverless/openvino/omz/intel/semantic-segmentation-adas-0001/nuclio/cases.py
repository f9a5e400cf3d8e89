"""Harness cases on a synthetic IR with the published input/output (1×3×1024×2048 → 1×1×1024×2048 ids).

The synthetic network answers a constant label map — road below, sky above, a car in the middle —
so the real loading, resizing to the image and mask encoding run and are checked exactly.
"""

from pathlib import Path

import numpy as np

from cvat_serverless.harness import Case, expect, generated_image
from cvat_serverless.harness.openvino_models import constant_model

ROAD, SKY, CAR = 0, 10, 13


def label_map() -> np.ndarray:
    labels = np.full((1024, 2048), SKY, np.float32)
    labels[512:] = ROAD
    labels[400:700, 800:1200] = CAR
    return labels


def environment(workdir: Path) -> dict[str, str]:
    path = constant_model(
        workdir / "semantic-segmentation-adas-0001.xml", "data", [1, 3, 1024, 2048], {"argmax": label_map()[None, None]}
    )
    return {"SEGMENTATION_MODEL": str(path), "CVAT_FN_OV_PRECISION": "f32"}


IMAGE = generated_image("segmentation-512x256", lambda: np.full((256, 512, 3), 100, np.uint8))
CASES = [
    Case(
        "one mask per present class, at image scale",
        body={"image": IMAGE},
        check=expect.detections(
            labels=["road", "sky", "car"],
            min_count=3,
            max_count=3,
            types=["mask"],
            boxes=[("car", [200, 100, 299, 174], 0.9), ("road", [0, 128, 511, 255], 0.9)],
        ),
    ),
]
