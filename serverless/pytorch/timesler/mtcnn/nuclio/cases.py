"""Harness cases for the MTCNN face detector (real bundled weights, so accuracy is checked)."""

from cvat_serverless.harness import Case, expect, sample_image

ASTRONAUT_FACE = [181.1, 62.2, 267.7, 172.1]

CASES = [
    Case(
        "astronaut face",
        body={"image": sample_image("astronaut")},
        check=expect.detections(
            labels=["face"], min_count=1, max_count=1, types=["rectangle"], boxes=[("face", ASTRONAUT_FACE, 0.7)]
        ),
    ),
    Case(
        "astronaut as jpeg with a low threshold",
        body={"image": sample_image("astronaut", fmt="JPEG"), "threshold": 0.5},
        check=expect.detections(labels=["face"], min_count=1, boxes=[("face", ASTRONAUT_FACE, 0.7)]),
    ),
    Case(
        "no face in coffee",
        body={"image": sample_image("coffee"), "threshold": 0.5},
        check=expect.detections(max_confidence_of_others=0.9),
    ),
    Case(
        "threshold above every score",
        body={"image": sample_image("astronaut"), "threshold": 1.0},
        check=expect.detections(max_count=0),
    ),
]
