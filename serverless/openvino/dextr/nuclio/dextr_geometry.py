"""Deep Extreme Cut around the network: zero-padded crop, the extreme-point heatmap, paste-back.

The geometry follows the authors' reference (scaelles/DEXTR-PyTorch ``demo.py`` and its training
transforms), because the published weights were trained on exactly these crops:

- the crop is the extreme points' box grown by 50 px on every side and is *not* clipped: what lies
  outside the image is zeros (``zero_pad=True``), so an object at the border keeps its 50 px margin;
- the heatmap is one Gaussian per point (sigma is the full width at half maximum), scaled to 0..255;
- the answer keeps only the extreme points' own box (the margin is dropped again, ``relax=pad``):
  extreme points bound the object by definition.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from common.guidance import Box, gaussian_map

PADDING = 50
"""Pixels added around the extreme points' box (DEXTR's ``pad``/``relax_crop``)."""
SIZE = 512
"""The network's square input size."""
THRESHOLD = 0.8
"""Probability above which a pixel belongs to the object (DEXTR's ``thres``)."""
SIGMA = 10.0
"""Width of each point's Gaussian in the heatmap (DEXTR's ``make_gt`` sigma)."""


def crop_box(points: np.ndarray, padding: int = PADDING) -> Box:
    """The inclusive box ``(x0, y0, x1, y1)`` around the points plus ``padding``; it may leave the image."""
    corner = np.floor(np.asarray(points, dtype=np.float64)).astype(int)
    (x0, y0), (x1, y1) = corner.min(axis=0), corner.max(axis=0)
    return int(x0) - padding, int(y0) - padding, int(x1) + padding, int(y1) + padding


def _inside(box: Box, height: int, width: int) -> Box:
    x0, y0, x1, y1 = box
    return max(x0, 0), max(y0, 0), min(x1, width - 1), min(y1, height - 1)


def zero_padded_crop(image: np.ndarray, box: Box) -> np.ndarray:
    """The pixels of ``box``, with zeros where the box lies outside the image."""
    x0, y0, x1, y1 = box
    crop = np.zeros((y1 - y0 + 1, x1 - x0 + 1, *image.shape[2:]), dtype=image.dtype)
    vx0, vy0, vx1, vy1 = _inside(box, *image.shape[:2])
    if vx0 <= vx1 and vy0 <= vy1:
        crop[vy0 - y0 : vy1 - y0 + 1, vx0 - x0 : vx1 - x0 + 1] = image[vy0 : vy1 + 1, vx0 : vx1 + 1]
    return crop


def heatmap(points: np.ndarray, size: int = SIZE, sigma: float = SIGMA) -> np.ndarray:
    """A ``size``×``size`` map, the max of one Gaussian per point, min-max scaled to 0..255."""
    result = gaussian_map(points, (size, size), sigma)
    low, high = result.min(), result.max()
    return (result - low) * (255.0 / max(high - low, 1e-8))


def network_input(image: np.ndarray, points: Sequence[Sequence[float]]) -> tuple[np.ndarray, Box]:
    """The 1×4×512×512 float32 input (RGB crop resized + heatmap) and the crop box it came from."""
    extreme = np.asarray(points, dtype=np.float64)
    box = crop_box(extreme)
    crop = zero_padded_crop(image, box)
    resized = cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    scale = np.array([SIZE / crop.shape[1], SIZE / crop.shape[0]])
    heat = heatmap((np.floor(extreme) - box[:2]) * scale).astype(np.float32)
    channels = np.concatenate([resized, heat[:, :, None]], axis=2)
    return np.ascontiguousarray(channels.transpose(2, 0, 1)[None]), box


def paste_back(probabilities: np.ndarray, box: Box, height: int, width: int, padding: int = PADDING) -> np.ndarray:
    """The full-image bool mask: probabilities resized to the crop box, thresholded, kept only inside
    the box shrunk by ``padding`` (the extreme points' box) and the image."""
    x0, y0, x1, y1 = box
    scaled = cv2.resize(
        np.asarray(probabilities, dtype=np.float32), (x1 - x0 + 1, y1 - y0 + 1), interpolation=cv2.INTER_CUBIC
    )
    mask = np.zeros((height, width), dtype=bool)
    kx0, ky0, kx1, ky1 = _inside((x0 + padding, y0 + padding, x1 - padding, y1 - padding), height, width)
    if kx0 <= kx1 and ky0 <= ky1:
        mask[ky0 : ky1 + 1, kx0 : kx1 + 1] = scaled[ky0 - y0 : ky1 - y0 + 1, kx0 - x0 : kx1 - x0 + 1] > THRESHOLD
    return mask
