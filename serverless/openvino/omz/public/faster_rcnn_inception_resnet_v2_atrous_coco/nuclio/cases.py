"""Harness cases on a synthetic IR with the converted model's inputs (image_tensor, image_info) and rows output."""

from pathlib import Path

import numpy as np

from cvat_serverless.harness import Case, expect, generated_image
from cvat_serverless.harness.openvino_models import detection_output_model

ROWS = [
    [0, 18, 0.92, 0.10, 0.20, 0.50, 0.90],  # dog (COCO id 18)
    [0, 3, 0.40, 0.60, 0.10, 0.90, 0.30],  # car, under the default threshold
    [-1, 0, 0, 0, 0, 0, 0],  # end of the list
]


def environment(workdir: Path) -> dict[str, str]:
    path = detection_output_model(
        workdir / "faster_rcnn.xml", [1, 600, 1024, 3], {"reshape_do_2d": np.array(ROWS, np.float32)[None, None]}
    )
    return {"FASTER_RCNN_MODEL": str(path), "CVAT_FN_OV_PRECISION": "f32"}


IMAGE = generated_image("frcnn-scene", lambda: np.full((300, 400, 3), 120, np.uint8))
DOG = [0.10 * 400, 0.20 * 300, 0.50 * 400, 0.90 * 300]

CASES = [
    Case(
        "DetectionOutput rows to rectangles (default threshold 0.5)",
        body={"image": IMAGE},
        check=expect.detections(labels=["dog"], min_count=1, max_count=1, boxes=[("dog", DOG, 0.99)]),
    ),
    Case(
        "a low threshold keeps the car",
        body={"image": IMAGE, "threshold": 0.3},
        check=expect.detections(labels=["dog", "car"], min_count=2, max_count=2),
    ),
]
