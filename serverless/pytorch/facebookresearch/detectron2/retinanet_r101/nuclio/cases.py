"""Harness cases for detectron2 RetinaNet: they need detectron2 (not on PyPI) and the model-zoo weights.

Install detectron2 and point ``DETECTRON2_WEIGHTS`` at the weights to run them; the conversion from
``Instances`` to CVAT shapes is unit-tested without detectron2 (tests/test_detectron2_convert.py).
"""

import importlib.util
import os

from cvat_serverless.harness import Case, expect, sample_image


def _skip_reason() -> str | None:
    if importlib.util.find_spec("detectron2") is None:
        return "detectron2 is not importable here (it is not on PyPI; the image installs it from a pinned commit)"
    if not os.path.exists(os.environ.get("DETECTRON2_WEIGHTS", "/opt/nuclio/retinanet_R_101_FPN_3x.pkl")):
        return "the RetinaNet R101 weights are not available here; set DETECTRON2_WEIGHTS"
    return None


SKIP_REASON = _skip_reason()

CASES = [
    Case(
        "a cat in chelsea",
        body={"image": sample_image("chelsea")},
        check=expect.detections(labels=None, min_count=1, types=["rectangle"]),
    ),
]
