"""Harness cases on random weights of the real architecture (contract checks, not accuracy)."""

from pathlib import Path

from cvat_serverless.harness import Case, expect, sample_image
from cvat_serverless.harness.torchvision_weights import random_weights

ARCHITECTURE = "retinanet_resnet50_fpn_v2"


def environment(workdir: Path) -> dict[str, str]:
    # Small input sizes keep the full-size network fast enough for the suite.
    return {
        "TORCHVISION_WEIGHTS": str(random_weights(ARCHITECTURE, 91, workdir)),
        "TORCHVISION_MIN_SIZE": "128",
        "TORCHVISION_MAX_SIZE": "192",
    }


CASES = [
    Case(
        "contract at threshold 0",
        body={"image": sample_image("coffee"), "threshold": 0.0},
        check=expect.detections(min_count=1, types=["rectangle"]),
    ),
    Case(
        "threshold above every score",
        body={"image": sample_image("coffee"), "threshold": 1.0},
        check=expect.detections(max_count=0),
    ),
]
