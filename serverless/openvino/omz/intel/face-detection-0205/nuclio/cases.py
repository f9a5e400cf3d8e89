"""Harness cases on synthetic IRs with the three published models' inputs and outputs.

Each synthetic network answers constants (a known face box; age 31, male, happy), so the real
loading, box rescaling, face cropping and attribute decoding run and are checked exactly.
"""

from pathlib import Path

import numpy as np

from cvat_serverless.harness import Case, Result, expect, generated_image
from cvat_serverless.harness.openvino_models import constant_model

FACE_ON_NET = (104.0, 52.0, 208.0, 208.0)  # x1, y1, x2, y2 on the 416×416 input
IMAGE_SIZE = (832, 624)  # width, height: scale 2 × 1.5


def environment(workdir: Path) -> dict[str, str]:
    boxes = np.zeros((200, 5), np.float32)
    boxes[0] = [*FACE_ON_NET, 0.93]
    boxes[1] = [10, 10, 30, 30, 0.2]
    constant_model(workdir / "fd.xml", "image", [1, 3, 416, 416], {"boxes": boxes, "labels": np.zeros(200)})
    constant_model(
        workdir / "ag.xml",
        "data",
        [1, 3, 62, 62],
        {"age_conv3": np.full((1, 1, 1, 1), 0.31), "prob": np.array([0.2, 0.8]).reshape(1, 2, 1, 1)},
    )
    constant_model(
        workdir / "em.xml",
        "data",
        [1, 3, 64, 64],
        {"prob_emotion": np.array([0.1, 0.7, 0.1, 0.05, 0.05]).reshape(1, 5, 1, 1)},
    )
    return {
        "FACE_DETECTION_MODEL": str(workdir / "fd.xml"),
        "AGE_GENDER_MODEL": str(workdir / "ag.xml"),
        "EMOTIONS_MODEL": str(workdir / "em.xml"),
        "CVAT_FN_OV_PRECISION": "f32",
    }


def attributes_check(result: Result) -> None:
    (face,) = result.payload
    assert {a["name"]: a["value"] for a in face["attributes"]} == {"age": "31", "gender": "male", "emotion": "happy"}


IMAGE = generated_image("face0205-832x624", lambda: np.full((IMAGE_SIZE[1], IMAGE_SIZE[0], 3), 90, np.uint8))
FACE = [FACE_ON_NET[0] * 2, FACE_ON_NET[1] * 1.5, FACE_ON_NET[2] * 2, FACE_ON_NET[3] * 1.5]

CASES = [
    Case(
        "one face, rescaled to the image",
        body={"image": IMAGE},
        check=expect.detections(labels=["face"], min_count=1, max_count=1, boxes=[("face", FACE, 0.99)]),
    ),
    Case("age, gender and emotion attributes", body={"image": IMAGE}, check=attributes_check),
    Case(
        "a low threshold lets the weak box through",
        body={"image": IMAGE, "threshold": 0.1},
        check=expect.detections(min_count=2, max_count=2),
    ),
]
