"""Harness cases for GrabCut: a synthetic object is recovered from its box and from clicks.

Every answer is placed as CVAT 2.73's UI places it (cvat-core reads the RLE box, never a 'bounds'
key), so an object away from the image's top-left corner checks the placement too.
"""

import numpy as np

from cvat_serverless.harness import Case, expect, generated_image

WIDTH, HEIGHT = 320, 240
CENTER, AXES = (170, 120), (70, 45)


def _truth(size: tuple[int, int] = (WIDTH, HEIGHT), center: tuple[int, int] = CENTER) -> np.ndarray:
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    return ((xx - center[0]) / AXES[0]) ** 2 + ((yy - center[1]) / AXES[1]) ** 2 <= 1.0


def _scene(size: tuple[int, int] = (WIDTH, HEIGHT), center: tuple[int, int] = CENTER) -> np.ndarray:
    rng = np.random.default_rng(7)
    background = rng.normal((60, 140, 60), 18, (size[1], size[0], 3))
    foreground = rng.normal((200, 60, 50), 18, (size[1], size[0], 3))
    image = np.where(_truth(size, center)[..., None], foreground, background)
    return np.clip(image, 0, 255).astype(np.uint8)


FAR_SIZE, FAR_CENTER = (480, 320), (330, 220)


SCENE = generated_image("grabcut-ellipse", _scene)
TRUTH = _truth()
BOX = [[CENTER[0] - AXES[0] - 8, CENTER[1] - AXES[1] - 8], [CENTER[0] + AXES[0] + 8, CENTER[1] + AXES[1] + 8]]

CASES = [
    Case(
        "object from its box",
        body={"image": SCENE, "pos_points": [], "neg_points": [], "obj_bbox": BOX},
        check=expect.interactor_mask(truth=TRUTH, min_iou=0.85),
    ),
    Case(
        "object from clicks",
        body={
            "image": SCENE,
            "pos_points": [[170, 120], [120, 110], [220, 130], [170, 90]],
            "neg_points": [[20, 20], [300, 220]],
        },
        check=expect.interactor_mask(truth=TRUTH, min_iou=0.85),
    ),
    Case(
        "box plus clicks, as a jpeg",
        body={
            "image": generated_image("grabcut-ellipse-jpeg", _scene, fmt="JPEG"),
            "pos_points": [[170, 120]],
            "neg_points": [[30, 30]],
            "obj_bbox": BOX,
        },
        check=expect.interactor_mask(truth=TRUTH, min_iou=0.85),
    ),
    Case(
        "object far from the top-left corner of a larger frame",
        body={
            "image": generated_image("grabcut-ellipse-far", lambda: _scene(FAR_SIZE, FAR_CENTER)),
            "pos_points": [],
            "neg_points": [],
            "obj_bbox": [[252, 167], [408, 273]],
        },
        check=expect.interactor_mask(truth=_truth(FAR_SIZE, FAR_CENTER), min_iou=0.85, confidence=False),
    ),
]
