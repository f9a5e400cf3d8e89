"""Harness cases for the OpenCV tracker on a synthetic sequence with a known motion.

The sequence is skimage's astronaut panned and zoomed by a known affine transform per frame,
so the true box of the face is known in every frame.
"""

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from cvat_serverless.harness import Case, Result, Step, expect, generated_image

FACE = (180.0, 60.0, 270.0, 175.0)
SIZE = (480, 360)  # width, height of every frame


def transform(frame: int) -> np.ndarray:
    """2×3 affine map from the photo to frame ``frame``: zoom 1 % and pan (-4, -3) px per frame."""
    zoom = 1.0 + 0.01 * frame
    return np.array([[zoom, 0.0, -40.0 - 4.0 * frame], [0.0, zoom, -10.0 - 3.0 * frame]])


def frame_image(frame: int) -> np.ndarray:
    """Frame ``frame`` of the sequence (RGB)."""
    from skimage import data

    return cv2.warpAffine(data.astronaut(), transform(frame), SIZE, borderMode=cv2.BORDER_REFLECT)


def true_box(frame: int) -> list[float]:
    """The face box in frame ``frame``."""
    matrix = transform(frame)
    corners = np.array([[FACE[0], FACE[1], 1.0], [FACE[2], FACE[3], 1.0]]) @ matrix.T
    return [corners[0, 0], corners[0, 1], corners[1, 0], corners[1, 1]]


FRAMES = [generated_image(f"tracker-frame-{i}", lambda i=i: frame_image(i)) for i in range(4)]


def _continue(frame: int) -> Callable[[Sequence[Result]], dict]:
    def body(results: Sequence[Result]) -> dict:
        return {"image": FRAMES[frame], "states": results[-1].payload["states"]}

    return body


CASES = [
    Case(
        "follow a face over three frames",
        body={"image": FRAMES[0], "shapes": [true_box(0)], "states": []},
        check=expect.tracker_answer(count=1, near=[true_box(0)], min_iou=0.99),
        steps=[Step(_continue(i), expect.tracker_answer(count=1, near=[true_box(i)], min_iou=0.7)) for i in (1, 2, 3)],
    ),
    Case(
        "two objects, one state each",
        body={"image": FRAMES[0], "shapes": [true_box(0), [300, 250, 360, 320]]},
        check=expect.tracker_answer(count=2),
        steps=[Step(_continue(1), expect.tracker_answer(count=2, near=[true_box(1), None], min_iou=0.7))],
    ),
]
