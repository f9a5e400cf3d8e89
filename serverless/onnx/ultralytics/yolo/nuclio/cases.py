"""Harness cases: real YOLOv8n weights from nudenet 3.4.2 (320n.onnx, 18 classes).

The folder's yaml holds the COCO labels for a default export; these cases point the function at
nudenet's file and at a copy of the yaml whose spec lists nudenet's 18 labels.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import yaml

from cvat_serverless.harness import Case, expect, generated_image, sample_image

NUDENET_LABELS = [
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
]
FACE = [173.0, 82.0, 275.0, 180.0]  # nudenet's own answer on astronaut(): x, y, w, h = 173, 82, 102, 98
SHIFT = 200


def environment(workdir: Path) -> dict[str, str]:
    spec = importlib.util.find_spec("nudenet")
    if spec is None or spec.origin is None:
        raise RuntimeError("nudenet is not installed (requirements.txt installs it)")
    document = yaml.safe_load((Path(__file__).parent / "function.yaml").read_text())
    labels = [{"id": i, "name": name, "type": "rectangle"} for i, name in enumerate(NUDENET_LABELS)]
    document["metadata"]["annotations"]["spec"] = json.dumps(labels)
    variant = workdir / "function-nudenet.yaml"
    variant.write_text(yaml.safe_dump(document))
    return {
        "YOLO_MODEL": str(Path(spec.origin).parent / "320n.onnx"),
        "YOLO_INPUT_SIZE": "320",
        "CVAT_FUNCTION_YAML": str(variant),
    }


def _wide_astronaut() -> np.ndarray:
    from skimage import data

    canvas = np.full((512, 900, 3), 30, np.uint8)
    canvas[:, SHIFT : SHIFT + 512] = data.astronaut()
    return canvas


CASES = [
    Case(
        "astronaut face",
        body={"image": sample_image("astronaut"), "threshold": 0.4},
        check=expect.detections(labels=NUDENET_LABELS, min_count=1, boxes=[("FACE_FEMALE", FACE, 0.5)]),
    ),
    Case(
        "letterboxed: the same face in a wide frame",
        body={"image": generated_image("yolo-wide-astronaut", _wide_astronaut), "threshold": 0.4},
        check=expect.detections(
            min_count=1, boxes=[("FACE_FEMALE", [FACE[0] + SHIFT, FACE[1], FACE[2] + SHIFT, FACE[3]], 0.5)]
        ),
    ),
    Case(
        "nothing in coffee",
        body={"image": sample_image("coffee"), "threshold": 0.4},
        check=expect.detections(max_count=0),
    ),
]
