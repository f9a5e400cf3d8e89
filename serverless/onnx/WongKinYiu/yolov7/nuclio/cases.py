"""Harness cases on a small ONNX graph with yolov7-nms-640.onnx's input and output (names, shapes, row layout).

The graph answers fixed rows in network (letterboxed 640×640) coordinates, so the real session,
letterboxing, threshold and un-letterboxing run and the boxes are checked exactly.
"""

from pathlib import Path

import numpy as np

from cvat_serverless.harness import Case, expect, generated_image

ROWS = np.array(
    [
        [0, 100, 200, 300, 400, 16, 0.9],  # dog
        [0, 400, 250, 500, 350, 2, 0.3],  # car, under the default threshold 0.5
    ],
    dtype=np.float32,
)
WIDTH, HEIGHT = 800, 400  # letterbox: scale 0.8, padding 160 px above and below


def write_graph(path: Path) -> Path:
    """``images`` 1×3×640×640 → ``output`` N×7 constant rows (the input still feeds the graph)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["rows", "nothing"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "yolov7-nms-like",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [len(ROWS), 7])],
        [numpy_helper.from_array(ROWS, "rows"), numpy_helper.from_array(np.array(0, np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def environment(workdir: Path) -> dict[str, str]:
    return {"YOLOV7_MODEL": str(write_graph(workdir / "yolov7-nms-like.onnx")), "CVAT_FN_DEVICE": "cpu"}


def _image_box(row: np.ndarray) -> list[float]:
    x0, y0, x1, y1 = row[1:5]
    return [x0 / 0.8, (y0 - 160) / 0.8, x1 / 0.8, (y1 - 160) / 0.8]


IMAGE = generated_image("yolov7-scene", lambda: np.full((HEIGHT, WIDTH, 3), 100, np.uint8))

CASES = [
    Case(
        "rows un-letterboxed to image pixels",
        body={"image": IMAGE},
        check=expect.detections(labels=["dog"], min_count=1, max_count=1, boxes=[("dog", _image_box(ROWS[0]), 0.99)]),
    ),
    Case(
        "a low threshold keeps the car",
        body={"image": IMAGE, "threshold": 0.25},
        check=expect.detections(
            labels=["dog", "car"], min_count=2, max_count=2, boxes=[("car", _image_box(ROWS[1]), 0.99)]
        ),
    ),
]
