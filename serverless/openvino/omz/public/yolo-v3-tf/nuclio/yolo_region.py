"""YOLO v3 region decoding for yolo-v3-tf converted with ``ovc`` (the raw ``conv2d_*/BiasAdd`` outputs).

``ovc`` has no RegionYolo transformation, so each of the three outputs is the raw convolution
map of the TensorFlow graph: per cell and per anchor ``[tx, ty, tw, th, objectness, 80 class
logits]`` (OMZ README, "Original model"):

- box centre = (cell + sigmoid(tx, ty)) / grid, in 0..1 of the network input;
- box size = exp(tw, th) × anchor / 416;
- score of a class = sigmoid(objectness) × sigmoid(class logit).

Layout is ``1×S×S×255`` as TensorFlow (and ``ovc``) keep it; ``1×255×S×S`` is accepted too.
The grid size ``S`` (13, 26, 52) picks the anchors.
"""

from __future__ import annotations

import numpy as np

from common.errors import BadModelOutput

INPUT_SIZE = 416
CLASSES = 80
ANCHORS = {
    13: ((116, 90), (156, 198), (373, 326)),
    26: ((30, 61), (62, 45), (59, 119)),
    52: ((10, 13), (16, 30), (33, 23)),
}
CHANNELS = 3 * (5 + CLASSES)

Candidate = tuple[float, float, float, float, int, float]


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * values))  # the tanh form cannot overflow on large logits


def _cells(output: np.ndarray) -> np.ndarray:
    """The output as ``S×S×3×85`` (row, column, anchor, field)."""
    data = np.asarray(output, dtype=np.float32)
    if data.ndim == 4 and data.shape[0] == 1 and data.shape[-1] == CHANNELS:
        grid = data[0]
    elif data.ndim == 4 and data.shape[0] == 1 and data.shape[1] == CHANNELS:
        grid = data[0].transpose(1, 2, 0)
    else:
        raise BadModelOutput(f"expected a 1×S×S×{CHANNELS} region output, got shape {data.shape}")
    if grid.shape[0] != grid.shape[1] or grid.shape[0] not in ANCHORS:
        raise BadModelOutput(f"expected a {sorted(ANCHORS)} grid, got {grid.shape[0]}×{grid.shape[1]}")
    return grid.reshape(grid.shape[0], grid.shape[1], 3, 5 + CLASSES)


def decode_region(output: np.ndarray, threshold: float) -> list[Candidate]:
    """Candidates ``(x0, y0, x1, y1, class, score)`` of one raw output, box in 0..1 of the input.

    - one candidate per cell and anchor, with its best class; its score must be ``>= threshold``;
    - class logits are only evaluated where the objectness alone reaches ``threshold``.
    """
    cells = _cells(output)
    size = cells.shape[0]
    objectness = _sigmoid(cells[..., 4])
    rows, cols, anchors = np.nonzero(objectness >= threshold)
    if len(rows) == 0:
        return []
    picked = cells[rows, cols, anchors]
    class_scores = _sigmoid(picked[:, 5:]) * objectness[rows, cols, anchors][:, None]
    classes = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(classes)), classes]
    sizes = np.asarray(ANCHORS[size], dtype=np.float32)[anchors] / INPUT_SIZE
    centre_x = (cols + _sigmoid(picked[:, 0])) / size
    centre_y = (rows + _sigmoid(picked[:, 1])) / size
    half_w = np.exp(picked[:, 2]) * sizes[:, 0] / 2
    half_h = np.exp(picked[:, 3]) * sizes[:, 1] / 2
    keep = scores >= threshold
    return [
        (float(x - w), float(y - h), float(x + w), float(y + h), int(c), float(s))
        for x, y, w, h, c, s in zip(
            centre_x[keep], centre_y[keep], half_w[keep], half_h[keep], classes[keep], scores[keep], strict=True
        )
    ]
