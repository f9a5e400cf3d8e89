"""Bring-your-own YOLO, segment variant: a small ONNX graph with an ultralytics segment head's I/O."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from common.image import encode_image
from common.masks import decode_function_mask
from common.yolo import decode_ultralytics_segment, letterbox
from cvat_serverless.runtime import LoadedFunction

FOLDER = Path(__file__).parents[1] / "serverless/onnx/ultralytics/yolo/nuclio"


def head() -> tuple[np.ndarray, np.ndarray]:
    """One 'b' (class 1) box (80, 120)-(240, 200) at 320 px whose prototype keeps only x < 160."""
    rows = np.zeros((1, 4 + 2 + 32, 4), np.float32)
    rows[0, :4, 0] = [160, 160, 160, 80]
    rows[0, 5, 0] = 0.9
    rows[0, 6, 0] = 10.0  # the first mask coefficient
    protos = np.full((1, 32, 80, 80), -1.0, np.float32)
    protos[0, 0, :, :40] = 1.0
    return rows, protos


def write_graph(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rows, protos = head()
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["rows", "nothing"], ["output0"]),
        helper.make_node("Add", ["protos", "nothing"], ["output1"]),
    ]
    graph = helper.make_graph(
        nodes,
        "yolo-seg-like",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 320, 320])],
        [
            helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(rows.shape)),
            helper.make_tensor_value_info("output1", TensorProto.FLOAT, list(protos.shape)),
        ],
        [
            numpy_helper.from_array(rows, "rows"),
            numpy_helper.from_array(protos, "protos"),
            numpy_helper.from_array(np.array(0, np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_decode_segment_head() -> None:
    rows, protos = head()
    boxes, scores, classes, masks = decode_ultralytics_segment(rows, protos, (320, 320), 0.5)
    assert classes.tolist() == [1] and scores.tolist() == [np.float32(0.9)]
    assert boxes[0].tolist() == [80, 120, 240, 200]
    assert masks[0].sum() == 80 * 80 and masks[0][120:200, 80:160].all()


def test_mask_back_to_the_image() -> None:
    _, fit = letterbox(np.zeros((320, 640, 3), np.uint8), (320, 320))
    network = np.zeros((320, 320), bool)
    network[120:200, 80:160] = True
    image_mask = fit.mask_to_image(network)
    assert image_mask.shape == (320, 640) and image_mask[80:240, 160:320].all() and image_mask.sum() == 160 * 160


def test_function_answers_masks_for_a_segment_export(tmp_path: Path) -> None:
    document = yaml.safe_load((FOLDER / "function.yaml").read_text())
    labels = [{"id": 0, "name": "a", "type": "mask"}, {"id": 1, "name": "b", "type": "mask"}]
    document["metadata"]["annotations"]["spec"] = json.dumps(labels)
    variant = tmp_path / "function-seg.yaml"
    variant.write_text(yaml.safe_dump(document))
    model = str(write_graph(tmp_path / "seg.onnx"))
    env = {"YOLO_MODEL": model, "YOLO_INPUT_SIZE": "320", "CVAT_FUNCTION_YAML": str(variant)}
    function = LoadedFunction.load(FOLDER, env=env)
    try:
        answer = function.invoke({"image": encode_image(np.full((320, 640, 3), 90, np.uint8))})
        assert answer.status_code == 200, answer.body
        (item,) = answer.json()
        assert item["label"] == "b" and item["type"] == "mask" and len(item["points"]) >= 8
        bitmap = decode_function_mask(item["mask"], (320, 640))
        truth = np.zeros((320, 640), bool)
        truth[80:240, 160:320] = True
        assert (bitmap & truth).sum() / (bitmap | truth).sum() >= 0.95
    finally:
        function.close()


def test_decode_end_to_end_segment_head() -> None:
    """YOLO26-seg: ``(1, N, 6 + 32)`` rows x1, y1, x2, y2, score, class, coefficients; the same mask as above."""
    _, protos = head()
    rows = np.zeros((1, 300, 6 + 32), np.float32)
    rows[0, 0, :6] = [80, 120, 240, 200, 0.9, 1]
    rows[0, 0, 6] = 10.0
    boxes, _, classes, masks = decode_ultralytics_segment(rows, protos, (320, 320), 0.5)  # layout from the shape
    assert classes.tolist() == [1] and boxes[0].tolist() == [80, 120, 240, 200]
    assert masks[0].sum() == 80 * 80 and masks[0][120:200, 80:160].all()
