"""Harness cases for PP-OCRv4 detection: every line of PIL-drawn text is found (real weights)."""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cvat_serverless.harness import Case, expect, generated_image

LINES = [("HELLO CVAT 2026", (40, 40)), ("serverless nuclio", (60, 150)), ("auto annotation", (30, 260))]


def _draw() -> tuple[np.ndarray, list[list[float]]]:
    image = Image.new("RGB", (640, 360), (245, 245, 240))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=44)
    boxes = []
    for text, origin in LINES:
        draw.text(origin, text, fill=(20, 20, 30), font=font)
        boxes.append([float(v) for v in draw.textbbox(origin, text, font=font)])
    return np.asarray(image), boxes


TEXT_IMAGE = generated_image("ppocr-three-lines", lambda: _draw()[0])
TEXT_BOXES = _draw()[1]

CASES = [
    Case(
        "three drawn lines",
        body={"image": TEXT_IMAGE},
        check=expect.detections(
            labels=["text"],
            min_count=3,
            max_count=3,
            types=["polygon"],
            boxes=[("text", box, 0.5) for box in TEXT_BOXES],
        ),
    ),
    Case(
        "blank page",
        body={"image": generated_image("ppocr-blank", lambda: np.full((200, 300, 3), 250, np.uint8))},
        check=expect.detections(max_count=0),
    ),
    Case(
        "threshold above every score",
        body={"image": TEXT_IMAGE, "threshold": 1.0},
        check=expect.detections(max_count=0),
    ),
]
