"""Harness cases on a synthetic IR with text-detection-0004's input and outputs (names, shapes, NHWC).

The synthetic network's outputs are constant maps that encode two text lines, so the real loading,
PixelLink decoding and rescaling to the image run and are checked exactly.
"""

from pathlib import Path

import numpy as np

from cvat_serverless.harness import Case, expect, generated_image
from cvat_serverless.harness.openvino_models import constant_model

MAP_H, MAP_W = 192, 320
WORDS = [(20, 30, 120, 50), (150, 100, 300, 130)]  # x1, y1, x2, y2 on the quarter-resolution map


def logit_maps(words: list[tuple[int, int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(segm 1×H×W×2, links 1×H×W×16): pixels inside words are text, all their links positive."""
    text = np.zeros((MAP_H, MAP_W), bool)
    for x1, y1, x2, y2 in words:
        text[y1 : y2 + 1, x1 : x2 + 1] = True
    segm = np.stack([np.where(text, -6.0, 6.0), np.where(text, 6.0, -6.0)], axis=-1)
    links = np.tile(np.stack([np.where(text, -6.0, 6.0), np.where(text, 6.0, -6.0)], axis=-1), (1, 1, 8))
    return segm[None].astype(np.float32), links[None].astype(np.float32)


def environment(workdir: Path) -> dict[str, str]:
    segm, links = logit_maps(WORDS)
    path = constant_model(
        workdir / "text-detection-0004.xml",
        "Placeholder",
        [1, 768, 1280, 3],
        {"model/link_logits_/add": links, "model/segm_logits/add": segm},
    )
    return {"TEXT_DETECTION_MODEL": str(path), "CVAT_FN_OV_PRECISION": "f32"}


def _box(word: tuple[int, int, int, int], scale: float) -> list[float]:
    return [word[0] * scale, word[1] * scale, word[2] * scale, word[3] * scale]


IMAGE = generated_image("text0004-640x384", lambda: np.full((384, 640, 3), 200, np.uint8))
CASES = [
    Case(
        "two encoded lines come back at image scale",
        body={"image": IMAGE},
        check=expect.detections(
            labels=["text"],
            min_count=2,
            max_count=2,
            types=["polygon"],
            boxes=[("text", _box(word, 2.0), 0.9) for word in WORDS],
        ),
    ),
    Case(
        "threshold above every pixel probability",
        body={"image": IMAGE, "threshold": 1.0},
        check=expect.detections(max_count=0),
    ),
]
