"""Harness cases: objects cut from scikit-image photos, shuffled, rescaled and brightened."""

import numpy as np

from cvat_serverless.harness import Case, expect, generated_image

# (photo, crop box x1, y1, x2, y2) — a face, a cup, a cat, a rocket
OBJECTS = [
    ("astronaut", (170, 50, 280, 180)),
    ("coffee", (100, 40, 300, 220)),
    ("chelsea", (120, 20, 300, 200)),
    ("rocket", (180, 40, 320, 420)),
]
SLOTS0 = [(20, 20), (260, 20), (20, 260), (260, 260)]
ORDER1 = [2, 0, 3, 1]  # object i of frame 0 sits in slot ORDER1[i] of frame 1
SCALES1 = [0.8, 1.15, 0.9, 1.1]


def _object(index: int, scale: float = 1.0, gain: float = 1.0) -> np.ndarray:
    import cv2
    from skimage import data

    name, (x1, y1, x2, y2) = OBJECTS[index]
    photo = getattr(data, name)()
    photo = np.stack([photo] * 3, -1) if photo.ndim == 2 else photo[..., :3]
    crop = cv2.resize(photo[y1:y2, x1:x2], (int(200 * scale), int(200 * scale)))
    return np.clip(crop.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def _frame(slots: list[tuple[int, int]], scales: list[float], gain: float) -> tuple[np.ndarray, list[list[int]]]:
    canvas = np.full((520, 520, 3), 90, np.uint8)
    boxes = []
    for index, ((x, y), scale) in enumerate(zip(slots, scales, strict=True)):
        patch = _object(index, scale, gain)[: 520 - y, : 520 - x]
        canvas[y : y + patch.shape[0], x : x + patch.shape[1]] = patch
        boxes.append([x, y, x + patch.shape[1] - 1, y + patch.shape[0] - 1])
    return canvas, boxes


def frame0() -> tuple[np.ndarray, list[list[int]]]:
    return _frame(SLOTS0, [1.0] * 4, 1.0)


def frame1() -> tuple[np.ndarray, list[list[int]]]:
    """Frame 1 with its boxes listed by slot, so box j is the object that moved into slot j."""
    canvas, boxes = _frame([SLOTS0[ORDER1[i]] for i in range(4)], SCALES1, 1.15)
    by_slot = [boxes[ORDER1.index(slot)] for slot in range(4)]
    return canvas, by_slot


def _shapes(boxes: list[list[int]]) -> list[dict]:
    return [{"type": "rectangle", "points": box, "label_id": 1, "frame": 0} for box in boxes]


IMAGE0 = generated_image("reid-frame0", lambda: frame0()[0])
IMAGE1 = generated_image("reid-frame1", lambda: frame1()[0])

CASES = [
    Case(
        "shuffled, rescaled, brighter objects are matched",
        body={
            "image0": IMAGE0,
            "image1": IMAGE1,
            "boxes0": _shapes(frame0()[1]),
            "boxes1": _shapes(frame1()[1]),
            "threshold": 0.5,
            "max_distance": 1000,
        },
        check=expect.reid_answer(ORDER1),
    ),
    Case(
        "a still frame matches itself with the defaults (threshold 0.5, 50 px)",
        body={"image0": IMAGE0, "image1": IMAGE0, "boxes0": _shapes(frame0()[1]), "boxes1": _shapes(frame0()[1])},
        check=expect.reid_answer([0, 1, 2, 3]),
    ),
    Case(
        "no boxes in frame 1",
        body={"image0": IMAGE0, "image1": IMAGE1, "boxes0": _shapes(frame0()[1]), "boxes1": []},
        check=expect.reid_answer([-1, -1, -1, -1]),
    ),
]
