"""Tests for common.yolo: letterbox geometry, the ultralytics decode and NMS, and a real export."""

from __future__ import annotations

import base64
import importlib.util
import io
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
import pytest
from PIL import Image

from common.yolo import (
    Letterbox,
    YoloExport,
    decode_rows,
    decode_ultralytics,
    is_end2end,
    letterbox,
    nms,
    nms_rotated,
    rotated_box,
    to_nchw,
)
from cvat_serverless.harness.discovery import load_cases
from cvat_serverless.harness.expect import box_iou
from cvat_serverless.runtime import LoadedFunction

YOLO = Path(__file__).parents[1] / "serverless/onnx/ultralytics/yolo/nuclio"


def test_letterbox_round_trip() -> None:
    image = np.zeros((100, 300, 3), np.uint8)
    canvas, fit = letterbox(image, (320, 320))
    assert canvas.shape == (320, 320, 3)
    assert fit.scale == 320 / 300 and fit.pad_x == 0 and fit.pad_y == (320 - 107) // 2
    box_in_image = np.array([[30.0, 20.0, 150.0, 80.0]])
    box_in_net = box_in_image * fit.scale + [fit.pad_x, fit.pad_y, fit.pad_x, fit.pad_y]
    assert np.allclose(fit.to_image(box_in_net), box_in_image)
    clipped = Letterbox(scale=1.0, pad_x=0, pad_y=0, width=50, height=40).to_image(np.array([[-5.0, -5, 80, 90]]))
    assert clipped.tolist() == [[0, 0, 49, 39]]


def test_decode_picks_classes_and_suppresses_duplicates() -> None:
    output = np.zeros((1, 4 + 3, 4), np.float32)
    output[0, :4, 0] = [50, 50, 20, 20]
    output[0, 4 + 1, 0] = 0.9
    output[0, :4, 1] = [51, 50, 20, 20]
    output[0, 4 + 1, 1] = 0.8  # same class, overlapping: suppressed
    output[0, :4, 2] = [51, 50, 20, 20]
    output[0, 4 + 2, 2] = 0.7  # other class, overlapping: kept
    output[0, 4 + 0, 3] = 0.1  # under the threshold
    boxes, scores, classes = decode_ultralytics(output, 0.25)
    assert classes.tolist() == [1, 2]
    assert np.allclose(scores, [0.9, 0.7]) and np.allclose(boxes[0], [40, 40, 60, 60])
    assert nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0), 0.5).size == 0


def _reference_face_box() -> list[float]:
    """nudenet's YOLOv8n on astronaut (square: a plain resize is a letterbox with no padding)."""
    from skimage import data

    spec = importlib.util.find_spec("nudenet")
    assert spec is not None and spec.origin is not None
    session = onnxruntime.InferenceSession(str(Path(spec.origin).parent / "320n.onnx"))
    image = cv2.resize(data.astronaut(), (320, 320))
    rows = session.run(None, {"images": to_nchw(image)})[0][0].T
    face = rows[np.argmax(rows[:, 4 + 1])]  # class 1 is FACE_FEMALE
    cx, cy, w, h = face[:4] * (512 / 320)
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def test_function_matches_an_independent_decode_on_real_weights(tmp_path: Path) -> None:
    from skimage import data

    cases = load_cases(YOLO)
    assert cases is not None
    function = LoadedFunction.load(YOLO, env=cases.environment(tmp_path))
    try:
        buffer = io.BytesIO()
        Image.fromarray(data.astronaut()).save(buffer, format="PNG")
        answer = function.invoke({"image": base64.b64encode(buffer.getvalue()).decode(), "threshold": 0.4}).json()
    finally:
        function.close()
    faces = [item["points"] for item in answer if item["label"] == "FACE_FEMALE"]
    assert faces and box_iou(faces[0], _reference_face_box()) >= 0.5


def test_export_metadata_of_a_real_export() -> None:
    spec = importlib.util.find_spec("nudenet")
    assert spec is not None and spec.origin is not None
    session = onnxruntime.InferenceSession(str(Path(spec.origin).parent / "320n.onnx"))
    export = YoloExport.from_metadata(session.get_modelmeta().custom_metadata_map)  # ultralytics 8.2.46
    assert export.task == "detect" and export.imgsz == (320, 320) and export.end2end is None
    assert len(export.names) == 18 and export.names[1] == "FACE_FEMALE" and export.extra_channels() == 0


def test_export_metadata_rules() -> None:
    pose = YoloExport.from_metadata(
        {"task": "pose", "names": "{0: 'person'}", "kpt_shape": "[17, 3]", "imgsz": "640", "end2end": "True"}
    )
    assert pose.kpt_shape == (17, 3) and pose.extra_channels() == 51 and pose.imgsz == (640, 640) and pose.end2end
    nms_inside = YoloExport.from_metadata({"task": "obb", "names": "{0: 'a'}", "args": "{'nms': True}"})
    assert nms_inside.end2end is True and nms_inside.extra_channels() == 1  # NMSModel rows are end-to-end rows
    named = YoloExport.from_metadata(
        {"task": "pose", "names": "{0: 'hand'}", "kpt_shape": "[2, 2]", "kpt_names": "{0: ['wrist', 'thumb']}"}
    )
    assert named.kpt_names == ("wrist", "thumb") and named.extra_channels() == 4
    for bad, why in (
        ({"task": "classify", "names": "{0: 'a'}"}, "not supported"),
        ({"task": "pose", "names": "{0: 'a'}"}, "kpt_shape"),
        ({"task": "detect", "names": "{0: __import__('os')}"}, "not a Python literal"),
        ({"task": "detect", "names": "{'a': 'b'}"}, "class indices"),
    ):
        with pytest.raises(ValueError, match=why):
            YoloExport.from_metadata(bad)


def test_layout_from_the_shape_when_the_metadata_does_not_say() -> None:
    assert not is_end2end(np.zeros((1, 22, 2100)), 0)  # nudenet: classic
    assert is_end2end(np.zeros((1, 300, 6)), 0) and is_end2end(np.zeros((1, 300, 57)), 51)
    assert not is_end2end(np.zeros((1, 300, 6)), 0, YoloExport(end2end=False))  # the metadata wins


def test_end_to_end_rows_are_filtered_and_sorted_not_suppressed() -> None:
    rows = np.zeros((1, 5, 6), np.float32)
    rows[0, 0] = [10, 10, 30, 30, 0.5, 2]
    rows[0, 1] = [11, 10, 31, 30, 0.9, 2]  # overlaps row 0, same class: the model kept both, so do we
    rows[0, 2] = [50, 50, 60, 60, 0.2, 0]
    found = decode_rows(rows, 0, 0.3, end2end=True)
    assert found.scores.tolist() == pytest.approx([0.9, 0.5]) and found.classes.tolist() == [2, 2]
    assert found.boxes[0].tolist() == [11, 10, 31, 30]
    assert len(decode_rows(rows, 0, 0.3, end2end=True, max_detections=1).scores) == 1
    with pytest.raises(ValueError, match="end-to-end"):
        decode_rows(rows, 32, 0.3, end2end=True)


def test_rotated_nms_is_class_aware() -> None:
    boxes = np.array([[50, 50, 40, 20], [51, 50, 40, 20], [50, 50, 40, 20], [50, 50, 40, 20]], np.float32)
    angles = np.array([0.3, 0.3, 0.3, 0.3 + np.pi / 2])  # the last is the same box turned by 90°: IoU < 1
    kept = nms_rotated(boxes, angles, np.array([0.9, 0.8, 0.7, 0.6]), np.array([0, 0, 1, 0]), 0.5)
    assert kept.tolist() == [0, 2, 3]


def test_rotated_box_is_cvats_rotated_rectangle() -> None:
    _, fit = letterbox(np.zeros((100, 200, 3), np.uint8), (64, 64))  # scale 0.32, pad_y 16
    corners, degrees = rotated_box([32.0, 32.0, 6.4, 12.8], 0.25, fit)  # h > w: ultralytics swaps, turns by 90°
    assert degrees == pytest.approx(np.degrees(0.25 + np.pi / 2))
    assert corners == pytest.approx([100 - 20, 50 - 10, 100 + 20, 50 + 10])
    # CVAT turns the corner (x1, y1) about the centre by +degrees (x' = cx + cos·dx − sin·dy, y down): that is
    # the corner ultralytics' xywhr2xyxyxyxy gives for the same box (ctr − vec1 − vec2 for w along the angle).
    theta, (cx, cy) = np.radians(degrees), (100.0, 50.0)
    dx, dy = corners[0] - cx, corners[1] - cy
    cvat = [cx + np.cos(theta) * dx - np.sin(theta) * dy, cy + np.sin(theta) * dx + np.cos(theta) * dy]
    vec1 = np.array([np.cos(theta), np.sin(theta)]) * 40 / 2
    vec2 = np.array([-np.sin(theta), np.cos(theta)]) * 20 / 2
    assert cvat == pytest.approx((np.array([cx, cy]) - vec1 - vec2).tolist())
    _, degrees = rotated_box([32.0, 32.0, 12.8, 6.4], -0.5, fit)
    assert degrees == pytest.approx(180 + np.degrees(-0.5))  # wrapped into [0, 180)
