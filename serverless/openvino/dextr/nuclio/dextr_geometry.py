"""Deep Extreme Cut around the network: crop with padding, the extreme-point heatmap, paste-back."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from common.guidance import Box, gaussian_map, padded_box

PADDING = 50
"""Pixels added around the extreme points' box (DEXTR's ``pad``)."""
SIZE = 512
"""The network's square input size."""
THRESHOLD = 0.8
"""Probability above which a pixel belongs to the object."""
SIGMA = 10.0
"""Width of each point's Gaussian in the heatmap (DEXTR's ``make_gt`` sigma)."""


def crop_box(points: np.ndarray, height: int, width: int, padding: int = PADDING) -> Box:
    """The inclusive box ``(x0, y0, x1, y1)`` around the points plus ``padding``, clipped to the image."""
    return padded_box(points, height, width, padding)


def heatmap(points: np.ndarray, size: int = SIZE, sigma: float = SIGMA) -> np.ndarray:
    """A ``size``×``size`` map, the max of one Gaussian per point, scaled to 0..255."""
    result = gaussian_map(points, (size, size), sigma)
    peak = result.max()
    return result * (255.0 / peak) if peak > 0 else result


def network_input(image: np.ndarray, points: Sequence[Sequence[float]]) -> tuple[np.ndarray, Box]:
    """The 1×4×512×512 float32 input (RGB crop resized + heatmap) and the crop box it came from."""
    height, width = image.shape[:2]
    extreme = np.asarray(points, dtype=np.float64)
    box = crop_box(extreme, height, width)
    x0, y0, x1, y1 = box
    crop = image[y0 : y1 + 1, x0 : x1 + 1]
    resized = cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    scale = np.array([SIZE / crop.shape[1], SIZE / crop.shape[0]])
    channels = np.concatenate([resized, heatmap((extreme - [x0, y0]) * scale)[:, :, None].astype(np.float32)], axis=2)
    return np.ascontiguousarray(channels.transpose(2, 0, 1)[None]), box


def paste_back(probabilities: np.ndarray, box: Box, height: int, width: int) -> np.ndarray:
    """The full-image bool mask: thresholded probabilities resized into the crop box."""
    x0, y0, x1, y1 = box
    crop = (np.asarray(probabilities, dtype=np.float32) > THRESHOLD).astype(np.uint8)
    crop = cv2.resize(crop, (x1 - x0 + 1, y1 - y0 + 1), interpolation=cv2.INTER_NEAREST)
    mask = np.zeros((height, width), dtype=bool)
    mask[y0 : y1 + 1, x0 : x1 + 1] = crop.astype(bool)
    return mask
