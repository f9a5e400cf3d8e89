"""YOLO v3 region decoding for the converted yolo-v3-tf IR (outputs after OpenVINO's RegionYolo).

Each of the three outputs holds, per cell and per anchor, ``[x, y, w, h, box_score, 80 class
scores]``: ``x``/``y`` already relative to the cell, ``w``/``h`` raw (exp × anchor), scores
already in [0, 1]. Layout is ``1×255×H×W`` or ``1×H×W×255``; both are accepted.
"""

from __future__ import annotations

import numpy as np

INPUT_SIZE = 416
ANCHORS = {
    13: [(116, 90), (156, 198), (373, 326)],
    26: [(30, 61), (62, 45), (59, 119)],
    52: [(10, 13), (16, 30), (33, 23)],
}
CLASSES = 80


def _channels_first(output: np.ndarray) -> np.ndarray:
    data = np.asarray(output, dtype=np.float32)[0]
    if data.shape[0] != len(ANCHORS[13]) * (5 + CLASSES):
        data = data.transpose(2, 0, 1)
    return data


def decode_region(output: np.ndarray, threshold: float) -> list[tuple[float, float, float, float, int, float]]:
    """Candidates ``(x0, y0, x1, y1, class, score)`` of one output, in 0..1 image coordinates."""
    data = _channels_first(output)
    _, height, width = data.shape
    anchors = ANCHORS[height]
    cells = data.reshape(len(anchors), 5 + CLASSES, height, width)
    found = []
    for index, (anchor_w, anchor_h) in enumerate(anchors):
        block = cells[index]
        scores = block[5:] * block[4][None]
        best = scores.argmax(axis=0)
        best_score = scores.max(axis=0)
        for row, col in zip(*np.nonzero(best_score >= threshold), strict=True):
            cx = (col + block[0, row, col]) / width
            cy = (row + block[1, row, col]) / height
            w = np.exp(block[2, row, col]) * anchor_w / INPUT_SIZE
            h = np.exp(block[3, row, col]) * anchor_h / INPUT_SIZE
            found.append(
                (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, int(best[row, col]), float(best_score[row, col]))
            )
    return found
