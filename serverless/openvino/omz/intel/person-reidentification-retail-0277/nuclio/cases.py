"""Harness cases on a synthetic IR with the published model's input/output (names, shapes, layout).

The synthetic network averages each colour channel of the 256×128 crop and projects it to 256
values, so differently coloured objects get different embeddings: the real loading, crop,
resize, inference and matching code runs end to end.
"""

from pathlib import Path

import numpy as np

from cvat_serverless.harness import Case, expect, generated_image

COLOURS = [(220, 40, 40), (40, 200, 60), (40, 60, 220)]


def environment(workdir: Path) -> dict[str, str]:
    import openvino as ov
    import openvino.opset13 as ops

    data = ops.parameter([1, 3, 256, 128], np.float32, name="data")
    weights = np.random.default_rng(0).normal(size=(3, 256)).astype(np.float32)
    embedding = ops.matmul(
        ops.reduce_mean(data, np.array([2, 3]), keep_dims=False), ops.constant(weights), False, False
    )
    embedding.output(0).get_tensor().set_names({"reid_embedding"})
    path = workdir / "person-reidentification-retail-0277.xml"
    ov.save_model(ov.Model([embedding], [data], "synthetic-reid-0277"), path)
    return {"REID_MODEL": str(path), "CVAT_FN_OV_PRECISION": "f32"}


def _frame(order: list[int], shift: int) -> np.ndarray:
    canvas = np.full((300, 400, 3), 128, np.uint8)
    for slot, colour in enumerate(order):
        x = 40 + slot * 120 + shift
        canvas[60:240, x : x + 80] = COLOURS[colour]
    return canvas


def _boxes(shift: int) -> list[dict]:
    return [{"type": "rectangle", "points": [40 + s * 120 + shift, 60, 119 + s * 120 + shift, 239]} for s in range(3)]


FRAME0 = generated_image("reid0277-frame0", lambda: _frame([0, 1, 2], 0))
FRAME1 = generated_image("reid0277-frame1", lambda: _frame([2, 0, 1], 10))

CASES = [
    Case(
        "shuffled colours are matched",
        body={
            "image0": FRAME0,
            "image1": FRAME1,
            "boxes0": _boxes(0),
            "boxes1": _boxes(10),
            "max_distance": 400,
            "threshold": 0.1,
        },
        check=expect.reid_answer([1, 2, 0]),
    ),
    Case(
        "the centre gate refuses far moves",
        body={"image0": FRAME0, "image1": FRAME1, "boxes0": _boxes(0), "boxes1": _boxes(10), "threshold": 0.1},
        check=expect.reid_answer([-1, -1, -1]),
    ),
]
