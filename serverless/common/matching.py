"""ReID matching shared by the ReID functions: cosine distance, a centre-distance gate, Hungarian assignment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

_BLOCKED = 1e6


def cosine_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) cosine distances (0 = same direction, 2 = opposite) between rows of ``a`` and ``b``."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return 1.0 - a @ b.T


def centre_distances(boxes0: np.ndarray, boxes1: np.ndarray) -> np.ndarray:
    """(N, M) distances in pixels between the centres of xyxy boxes."""
    centres0 = (boxes0[:, :2] + boxes0[:, 2:4]) / 2
    centres1 = (boxes1[:, :2] + boxes1[:, 2:4]) / 2
    return np.linalg.norm(centres0[:, None] - centres1[None], axis=-1)


def match(
    embeddings0: np.ndarray,
    embeddings1: np.ndarray,
    boxes0: np.ndarray,
    boxes1: np.ndarray,
    *,
    threshold: float,
    max_distance: float,
) -> list[int]:
    """For each box of frame 0, the index of its match in frame 1 or -1.

    A pair may match only when its cosine distance is at most ``threshold`` and its centres are
    at most ``max_distance`` pixels apart; among those, the assignment minimising the total
    cosine distance is taken (one-to-one).
    """
    result = [-1] * len(boxes0)
    if len(boxes0) == 0 or len(boxes1) == 0:
        return result
    cost = cosine_distances(embeddings0, embeddings1)
    allowed = (cost <= threshold) & (centre_distances(boxes0, boxes1) <= max_distance)
    rows, cols = linear_sum_assignment(np.where(allowed, cost, _BLOCKED))
    for row, col in zip(rows, cols, strict=True):
        if allowed[row, col]:
            result[int(row)] = int(col)
    return result


def match_request(request: Any, embed: Callable[[Any, np.ndarray], np.ndarray]) -> list[int]:
    """Match a :class:`common.reid.ReidRequest` with ``embed(image, boxes) -> (N, D)`` embeddings."""
    return match(
        embed(request.image0, request.boxes0),
        embed(request.image1, request.boxes1),
        request.boxes0,
        request.boxes1,
        threshold=request.threshold,
        max_distance=request.max_distance,
    )
