"""Tests for common.matching: cosine distance, the centre gate and one-to-one assignment."""

from __future__ import annotations

import numpy as np

from common.matching import cosine_distances, match

BOXES = np.array([[0, 0, 10, 10], [100, 100, 110, 110]], float)


def test_cosine_distance_range() -> None:
    distances = cosine_distances(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    assert np.allclose(distances, [[0.0, 1.0, 2.0]])


def test_assignment_is_one_to_one_and_gated() -> None:
    embeddings = np.eye(2)
    swapped = BOXES[::-1] + 3
    assert match(embeddings, embeddings[::-1], BOXES, swapped, threshold=0.5, max_distance=50) == [1, 0]
    assert match(embeddings, embeddings[::-1], BOXES, swapped + 500, threshold=0.5, max_distance=50) == [-1, -1]
    same = np.ones((2, 2))
    assert sorted(match(same, same[:1], BOXES, BOXES[:1], threshold=0.5, max_distance=1000)) == [-1, 0]
    assert match(embeddings, np.zeros((0, 2)), BOXES, np.zeros((0, 4)), threshold=0.5, max_distance=50) == [-1, -1]
