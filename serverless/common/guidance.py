"""Click guidance for interactive segmentation networks (DEXTR, IOG): padded crops and Gaussian maps."""

from __future__ import annotations

import numpy as np

Box = tuple[int, int, int, int]


def padded_box(points: np.ndarray, height: int, width: int, padding: int) -> Box:
    """The inclusive box ``(x0, y0, x1, y1)`` around points (N×2, x/y) plus ``padding``, clipped to the image."""
    xs, ys = points[:, 0], points[:, 1]
    return (
        max(int(xs.min()) - padding, 0),
        max(int(ys.min()) - padding, 0),
        min(int(xs.max()) + padding, width - 1),
        min(int(ys.max()) + padding, height - 1),
    )


def gaussian_map(points: np.ndarray, shape: tuple[int, int], sigma: float = 10.0) -> np.ndarray:
    """An H×W map in [0, 1]: the max of one Gaussian per point (``sigma`` is the full width at half maximum)."""
    height, width = shape
    xs, ys = np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)
    result = np.zeros(shape, dtype=np.float64)
    for x, y in np.asarray(points, dtype=np.float64).reshape(-1, 2):
        result = np.maximum(
            result, np.exp(-4 * np.log(2) * ((xs[None, :] - x) ** 2 + (ys[:, None] - y) ** 2) / sigma**2)
        )
    return result
