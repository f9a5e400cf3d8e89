"""Tests for common.yolo: letterbox geometry, the ultralytics decode and NMS, and a real export."""

from __future__ import annotations

import base64
import importlib.util
import io
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
from PIL import Image

from common.yolo import Letterbox, decode_ultralytics, letterbox, nms, to_nchw
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
