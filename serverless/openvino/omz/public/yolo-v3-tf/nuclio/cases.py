"""Harness cases on a synthetic IR with the converted yolo-v3-tf's input and three region outputs.

The synthetic outputs put one confident ``dog`` in a known cell and anchor of the 13×13 output,
so loading, region decoding, NMS and rescaling run and the box is checked exactly.
"""

from pathlib import Path

import numpy as np

from cvat_serverless.harness import Case, expect, generated_image
from cvat_serverless.harness.openvino_models import constant_model

DOG = 16  # COCO-80 class index of "dog"
OUTPUTS = {13: "conv2d_58/Conv2D/YoloRegion", 26: "conv2d_66/Conv2D/YoloRegion", 52: "conv2d_74/Conv2D/YoloRegion"}


def region_outputs() -> dict[str, np.ndarray]:
    """Region outputs (1×255×S×S) with one object: anchor 1 (156×198) of cell (row 6, col 4) at 13×13."""
    maps = {name: np.zeros((1, 255, size, size), np.float32) for size, name in OUTPUTS.items()}
    block = maps[OUTPUTS[13]][0].reshape(3, 85, 13, 13)
    block[1, 0:2, 6, 4] = 0.5  # centre of the cell
    block[1, 2:4, 6, 4] = 0.0  # exp(0) × anchor
    block[1, 4, 6, 4] = 0.9
    block[1, 5 + DOG, 6, 4] = 1.0
    return maps


def expected_box(width: int, height: int) -> list[float]:
    cx, cy = (4 + 0.5) / 13, (6 + 0.5) / 13
    w, h = 156 / 416, 198 / 416
    return [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height]


def environment(workdir: Path) -> dict[str, str]:
    path = constant_model(workdir / "yolo-v3-tf.xml", "input_1", [1, 416, 416, 3], region_outputs())
    return {"YOLO_V3_MODEL": str(path), "CVAT_FN_OV_PRECISION": "f32"}


IMAGE = generated_image("yolo-v3-scene", lambda: np.full((300, 520, 3), 90, np.uint8))

CASES = [
    Case(
        "one dog decoded from the 13x13 region output",
        body={"image": IMAGE},
        check=expect.detections(
            labels=["dog"], min_count=1, max_count=1, types=["rectangle"], boxes=[("dog", expected_box(520, 300), 0.99)]
        ),
    ),
    Case("a threshold above its score", body={"image": IMAGE, "threshold": 0.95}, check=expect.detections(max_count=0)),
]
