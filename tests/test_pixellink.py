"""PixelLink decoding on hand-built pixel/link maps whose components are known."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from cvat_serverless.harness.discovery import load_module

FOLDER = Path(__file__).parents[1] / "serverless/openvino/omz/intel/text-detection-0004/nuclio"
pixellink = load_module(FOLDER / "pixellink.py", "pixellink_under_test")


def _logits(text: np.ndarray, links: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    segm = np.stack([np.where(text, -6.0, 6.0), np.where(text, 6.0, -6.0)], axis=-1)
    on = np.ones((*text.shape, 8), bool) if links is None else links
    link = np.stack([np.where(on, -6.0, 6.0), np.where(on, 6.0, -6.0)], axis=-1).reshape(*text.shape, 16)
    return segm, link


def _decode(text: np.ndarray, links: np.ndarray | None = None) -> list:
    segm, link = _logits(text, links)
    return pixellink.decode(segm, link, pixel_threshold=0.8, link_threshold=0.8, min_area=5, scale=(4.0, 4.0))


def _bbox(corners: np.ndarray) -> list[float]:
    return [
        float(corners[:, 0].min()),
        float(corners[:, 1].min()),
        float(corners[:, 0].max()),
        float(corners[:, 1].max()),
    ]


def test_two_separate_words() -> None:
    text = np.zeros((40, 80), bool)
    text[5:12, 5:30] = True
    text[20:30, 40:75] = True
    boxes = sorted(_bbox(corners) for corners, _ in _decode(text))
    assert boxes == [[20.0, 20.0, 116.0, 44.0], [160.0, 80.0, 296.0, 116.0]]


def test_touching_words_split_only_by_links() -> None:
    text = np.zeros((20, 60), bool)
    text[5:12, 5:55] = True
    links = np.ones((20, 60, 8), bool)
    # No link crosses between columns 29 and 30: the pixels touch but belong to two words.
    for channel, (dx, _) in enumerate(pixellink.NEIGHBOURS):
        if dx == 1:
            links[:, 29, channel] = False
        if dx == -1:
            links[:, 30, channel] = False
    assert len(_decode(text, links)) == 2
    assert len(_decode(text)) == 1


def test_rotated_word_keeps_its_angle() -> None:
    text = np.zeros((100, 100), np.uint8)
    corners = cv2.boxPoints(((50.0, 50.0), (60.0, 12.0), 30.0)).astype(np.int32)
    cv2.fillPoly(text, [corners], 1)
    ((found, score),) = _decode(text.astype(bool))
    (_, (w, h), angle) = cv2.minAreaRect(found / 4.0)
    long_side_angle = angle if w >= h else angle - 90
    assert abs(((long_side_angle - 30) + 90) % 180 - 90) < 3 and score > 0.99
