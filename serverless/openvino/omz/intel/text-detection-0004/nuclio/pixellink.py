"""PixelLink decoding: text/no-text and 8-neighbour link logits → text instances → rotated rectangles.

Positive pixels are joined with a positive neighbour when the link between them is positive;
each connected component is a text instance, outlined by its minimum-area rotated rectangle.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

# (dx, dy) of the 8 neighbours, in the order of the link channels (pairs of logits).
NEIGHBOURS = ((-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1))


def _softmax_positive(logits: np.ndarray) -> np.ndarray:
    """Probability of the second class of each logit pair on the last axis."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp[..., 1] / exp.sum(axis=-1)


def decode(
    segm_logits: np.ndarray,
    link_logits: np.ndarray,
    *,
    pixel_threshold: float,
    link_threshold: float,
    min_area: int,
    scale: tuple[float, float],
) -> list[tuple[np.ndarray, float]]:
    """Text instances as ``(4×2 corner array in image coordinates, mean pixel probability)``.

    ``segm_logits`` is (H, W, 2), ``link_logits`` (H, W, 16); ``scale`` is (sx, sy) from the map to
    the image. Components smaller than ``min_area`` map pixels are dropped.
    """
    pixel_prob = _softmax_positive(segm_logits)
    link_prob = _softmax_positive(link_logits.reshape(*link_logits.shape[:2], 8, 2))
    positive = pixel_prob > pixel_threshold
    height, width = positive.shape
    index = np.arange(height * width).reshape(height, width)
    sources, targets = [index[positive]], [index[positive]]
    for channel, (dx, dy) in enumerate(NEIGHBOURS):
        ys, xs = np.nonzero(positive & (link_prob[..., channel] > link_threshold))
        nx, ny = xs + dx, ys + dy
        inside = (nx >= 0) & (nx < width) & (ny >= 0) & (ny < height)
        xs, ys, nx, ny = xs[inside], ys[inside], nx[inside], ny[inside]
        linked = positive[ny, nx]
        sources.append(index[ys[linked], xs[linked]])
        targets.append(index[ny[linked], nx[linked]])
    rows, cols = np.concatenate(sources), np.concatenate(targets)
    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(height * width,) * 2)
    _, labels = connected_components(graph, directed=False)
    labels = labels.reshape(height, width)
    instances = []
    for label in np.unique(labels[positive]):
        member = positive & (labels == label)
        if member.sum() < min_area:
            continue
        ys, xs = np.nonzero(member)
        corners = cv2.boxPoints(cv2.minAreaRect(np.column_stack([xs, ys]).astype(np.float32)))
        instances.append((corners * np.asarray(scale, np.float32), float(pixel_prob[member].mean())))
    return instances
