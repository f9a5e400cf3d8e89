"""detectron2 ``Instances`` (as arrays) → CVAT rectangles; no detectron2 import, so it is testable anywhere."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from common.shapes import Item, rectangle


def instances_to_items(
    boxes: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    names: Mapping[int, str],
    threshold: float,
    width: int,
    height: int,
) -> list[Item]:
    """Rectangles for ``pred_boxes`` (N×4 xyxy), ``scores`` and ``pred_classes`` at or above ``threshold``.

    Boxes are clipped to the image; empty boxes and classes outside the spec are dropped.
    """
    items = []
    limits = [width - 1, height - 1, width - 1, height - 1]
    for box, score, cls in zip(np.asarray(boxes, np.float64), np.asarray(scores), np.asarray(classes), strict=True):
        name = names.get(int(cls))
        if name is None or float(score) < threshold:
            continue
        x0, y0, x1, y1 = np.clip(box, 0, limits)
        if x1 > x0 and y1 > y0:
            items.append(rectangle(name, [x0, y0, x1, y1], confidence=float(score)))
    return items
