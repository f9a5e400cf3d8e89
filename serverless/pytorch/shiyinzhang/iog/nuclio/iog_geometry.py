"""Inside-Outside Guidance around the network: a box (+ clicks) → 5-channel input → mask in the image."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from common.guidance import Box, gaussian_map, padded_box

PADDING = 30
SIZE = 512


def guidance_points(box: Sequence[float], positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inside points (the clicks, or the box centre) and outside points (the box corners + negative clicks)."""
    x0, y0, x1, y1 = box
    positive, negative = np.asarray(positive, dtype=np.float64).reshape(-1, 2), np.asarray(negative).reshape(-1, 2)
    inside = positive if len(positive) else np.array([[(x0 + x1) / 2, (y0 + y1) / 2]])
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
    outside = np.concatenate([corners, negative]) if len(negative) else corners
    return np.asarray(inside, dtype=np.float64), outside


def network_input(
    image: np.ndarray, box: Sequence[float], positive: np.ndarray, negative: np.ndarray
) -> tuple[np.ndarray, Box]:
    """The 1×5×512×512 float32 input (RGB crop + inside and outside maps scaled to 0..255) and its crop box."""
    height, width = image.shape[:2]
    crop = padded_box(np.asarray(box, dtype=np.float64).reshape(2, 2), height, width, PADDING)
    x0, y0, x1, y1 = crop
    pixels = cv2.resize(image[y0 : y1 + 1, x0 : x1 + 1], (SIZE, SIZE), interpolation=cv2.INTER_NEAREST)
    scale = np.array([SIZE / (x1 - x0 + 1), SIZE / (y1 - y0 + 1)])
    inside, outside = guidance_points(box, positive, negative)
    maps = np.stack([gaussian_map((points - [x0, y0]) * scale, (SIZE, SIZE)) for points in (inside, outside)], axis=2)
    peak = maps.max()
    maps = maps * (255.0 / peak) if peak > 0 else maps
    channels = np.concatenate([pixels.astype(np.float32), maps.astype(np.float32)], axis=2)
    return np.ascontiguousarray(channels.transpose(2, 0, 1)[None]), crop


def probabilities(logits: np.ndarray) -> np.ndarray:
    """The network's output is logits; like upstream test.py, a sigmoid makes them probabilities."""
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def paste_back(logits: np.ndarray, crop: Box, height: int, width: int, threshold: float) -> np.ndarray:
    """The full-image bool mask from the network's 512×512 logits for the crop: probability > ``threshold``."""
    x0, y0, x1, y1 = crop
    inside = (probabilities(logits) > threshold).astype(np.uint8)
    inside = cv2.resize(inside, (x1 - x0 + 1, y1 - y0 + 1), interpolation=cv2.INTER_NEAREST)
    mask = np.zeros((height, width), dtype=bool)
    mask[y0 : y1 + 1, x0 : x1 + 1] = inside.astype(bool)
    return mask
