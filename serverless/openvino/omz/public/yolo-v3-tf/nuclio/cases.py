"""Harness cases on a synthetic IR with the ovc-converted yolo-v3-tf's input and three raw region outputs.

Names, shapes and layout are those ``ovc`` gives the TensorFlow graph (``input_1:0`` 1×416×416×3,
``conv2d_{58,66,74}/BiasAdd:0`` 1×S×S×255, raw logits). One ``dog`` sits in a known cell and
anchor of the 13×13 output; its objectness logit also reads the mean of input channel 0, so it
is only found when the function feeds RGB scaled to 0..1 (the red image), and with the exact
score sigmoid(ln 9) × sigmoid(ln 99) = 0.891 only when the scale is right.
"""

from pathlib import Path

import numpy as np

from cvat_serverless.harness import Case, Result, expect, generated_image
from cvat_serverless.harness.openvino_models import probed_constant_model

DOG = 16  # COCO-80 class index of "dog"
OUTPUTS = {13: "conv2d_58/BiasAdd:0", 26: "conv2d_66/BiasAdd:0", 52: "conv2d_74/BiasAdd:0"}
ROW, COL, ANCHOR = 6, 4, 1  # anchor 1 of the 13×13 grid is 156×198
GAIN = 4.0  # objectness logit = ln 9 - GAIN + GAIN × mean(channel 0 in 0..1)
SCORE = 0.9 * 0.99


def region_outputs() -> dict[str, np.ndarray]:
    """Raw logits: background objectness -20 everywhere, one object at (ROW, COL, ANCHOR) of 13×13."""
    maps = {}
    for size, name in OUTPUTS.items():
        cells = np.zeros((1, size, size, 3, 85), np.float32)
        cells[..., 4] = -20.0
        cells[..., 5:] = -20.0
        maps[name] = cells
    cells = maps[OUTPUTS[13]]
    cells[0, ROW, COL, ANCHOR, 0:4] = 0.0  # centre of the cell (sigmoid 0.5), anchor size (exp 0)
    cells[0, ROW, COL, ANCHOR, 4] = np.log(9.0) - GAIN
    cells[0, ROW, COL, ANCHOR, 5 + DOG] = np.log(99.0)
    return {name: value.reshape((*value.shape[:3], 255)) for name, value in maps.items()}


def expected_box(width: int, height: int) -> list[float]:
    cx, cy = (COL + 0.5) / 13, (ROW + 0.5) / 13
    w, h = 156 / 416, 198 / 416
    return [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height]


def environment(workdir: Path) -> dict[str, str]:
    probe = (OUTPUTS[13], (0, ROW, COL, ANCHOR * 85 + 4), 0, 3, GAIN)
    path = probed_constant_model(
        workdir / "yolo-v3-tf.xml", "input_1:0", [1, 416, 416, 3], region_outputs(), probe=probe
    )
    return {"YOLO_V3_MODEL": str(path), "CVAT_FN_OV_PRECISION": "f32"}


def one_dog_scored(result: Result) -> None:
    expect.detections(
        labels=["dog"], min_count=1, max_count=1, types=["rectangle"], boxes=[("dog", expected_box(520, 300), 0.99)]
    )(result)
    if "confidence" not in result.payload[0]:
        assert result.transport == "cvat", "only a real CVAT 2.73 drops a detector's confidence"
        return
    confidence = float(result.payload[0]["confidence"])
    assert abs(confidence - SCORE) < 1e-3, f"[{result.transport}] dog scored {confidence}, expected {SCORE}"


RED = generated_image("yolo-v3-red", lambda: np.tile(np.array([255, 0, 0], np.uint8), (300, 520, 1)))
BLUE = generated_image("yolo-v3-blue", lambda: np.tile(np.array([0, 0, 255], np.uint8), (300, 520, 1)))

CASES = [
    Case("one dog decoded from the raw 13x13 output (RGB in 0..1)", body={"image": RED}, check=one_dog_scored),
    Case("a blue image: channel 0 is red, nothing found", body={"image": BLUE}, check=expect.detections(max_count=0)),
    Case("a threshold above its score", body={"image": RED, "threshold": 0.95}, check=expect.detections(max_count=0)),
]
