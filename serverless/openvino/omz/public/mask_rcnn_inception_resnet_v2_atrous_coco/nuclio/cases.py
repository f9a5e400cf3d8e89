"""Harness cases on a synthetic IR with the converted model's inputs, rows and per-class 33×33 masks."""

from pathlib import Path

import numpy as np

from common.masks import decode_function_mask
from cvat_serverless.harness import Case, Result, expect, generated_image
from cvat_serverless.harness.openvino_models import detection_output_model

ROWS = np.zeros((100, 7), np.float32)
ROWS[0] = [0, 1, 0.95, 0.25, 0.20, 0.75, 0.80]  # person (COCO id 1)
ROWS[1] = [-1, 0, 0, 0, 0, 0, 0]


def masks() -> np.ndarray:
    """N×90×33×33 heatmaps: detection 0's person mask (class index 0) is its box's left half."""
    heat = np.zeros((100, 90, 33, 33), np.float32)
    heat[0, 0, :, :16] = 0.9
    return heat


def environment(workdir: Path) -> dict[str, str]:
    outputs = {"reshape_do_2d": ROWS, "masks": masks()}
    path = detection_output_model(workdir / "mask_rcnn.xml", [1, 800, 1365, 3], outputs)
    return {"MASK_RCNN_MODEL": str(path), "CVAT_FN_OV_PRECISION": "f32"}


def _truth() -> np.ndarray:
    truth = np.zeros((200, 320), bool)
    x0, y0, x1, y1 = 80, 40, 240, 160
    truth[y0 : y1 + 1, x0 : x0 + (x1 - x0 + 1) * 16 // 33] = True
    return truth


def mask_check(result: Result) -> None:
    expect.detections(labels=["person"], min_count=1, max_count=1, types=["mask"])(result)
    (item,) = result.payload
    bitmap = decode_function_mask(item["mask"], (200, 320))
    assert expect.mask_iou(bitmap, _truth()) >= 0.9 and len(item["points"]) >= 6


IMAGE = generated_image("mrcnn-scene", lambda: np.full((200, 320, 3), 120, np.uint8))

CASES = [
    Case(
        "a person mask pasted back into its box",
        body={"image": IMAGE},
        check=mask_check,
    ),
]
