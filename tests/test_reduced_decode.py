"""Fixed-resolution detectors decode large JPEGs reduced and answer in full-frame coordinates (issue #13).

The library part runs a small colour-threshold detector through ``common.detector.handle`` (exact
geometry); the function part sends a 108 MP JPEG to the ultralytics YOLO function with nudenet's
real YOLOv8n weights and compares its answer with the same picture shrunk under the 40 MP limit
and sent as PNG (decoded in full).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from nuclio_sdk import Context, Event, Logger
from PIL import Image

from common import detector
from common.config import Limits
from common.labels import parse_function_config
from common.masks import decode_function_mask
from common.shapes import Item, keypoint, mask, polygon, rectangle, scale_detections, skeleton, tag
from cvat_serverless.harness.discovery import load_cases
from cvat_serverless.harness.expect import box_iou, mask_iou
from cvat_serverless.runtime import LoadedFunction

REPO = Path(__file__).parents[1]
YOLO = REPO / "serverless" / "onnx" / "ultralytics" / "yolo" / "nuclio"
SPEC = [
    {"id": 0, "name": "car", "type": "rectangle"},
    {"id": 1, "name": "blob", "type": "mask"},
    {"id": 2, "name": "outline", "type": "polygon"},
    {"id": 3, "name": "pin", "type": "skeleton", "svg": "", "sublabels": [{"id": 4, "name": "tip", "type": "points"}]},
]
RED = (64 * 9, 64 * 5, 64 * 40, 64 * 30)  # x0, y0, x1, y1 (exclusive) of the red block, on 8×8 DCT blocks


# --- scale_detections --------------------------------------------------------------------------


def test_points_scale_and_everything_else_is_kept() -> None:
    items: list[Item] = [
        rectangle("car", [1.5, 2, 10, 20], confidence=0.9, rotation=30),
        polygon("outline", [0, 0, 4, 0, 4, 3]),
        skeleton("pin", [keypoint("tip", 3, 4, outside=True)], confidence=0.5),
        tag("car"),
    ]
    scaled = scale_detections(items, 4, (100, 100))
    assert scaled[0] == {**items[0], "points": [6.0, 8.0, 40.0, 80.0]} and scaled[0]["rotation"] == 30.0
    assert scaled[1]["points"] == [0.0, 0.0, 16.0, 0.0, 16.0, 12.0]
    assert scaled[2]["elements"] == [{**items[2]["elements"][0], "points": [12.0, 16.0]}]
    assert scaled[3] == items[3]
    assert items[0]["points"] == [1.5, 2.0, 10.0, 20.0]  # new items, the input is untouched
    assert scale_detections(items, 1, (100, 100)) == items


def test_a_mask_is_repeated_to_full_resolution_and_cut_at_the_frame_edge() -> None:
    reduced = np.zeros((5, 7), bool)  # a 50×37 frame decoded at 1/8 is 7×5 (rounded up)
    reduced[1:3, 2:4] = True
    reduced[4, 6] = True  # the last reduced pixel stands for the frame's 2×5 bottom-right corner only
    item = mask("blob", reduced)
    assert item is not None
    (scaled,) = scale_detections([item], 8, (50, 37))
    full = decode_function_mask(scaled["mask"], (37, 50))
    expected = np.zeros((37, 50), bool)
    expected[8:24, 16:32] = True
    expected[32:37, 48:50] = True
    assert np.array_equal(full, expected)
    assert scaled["mask"][-4:] == [16, 8, 49, 36]
    outline = np.asarray(scaled["points"]).reshape(-1, 2)  # traced again: the largest region, full coordinates
    assert outline.min(axis=0).tolist() == [16, 8] and outline.max(axis=0).tolist() == [31, 23]


# --- the detector contract with a deterministic model ------------------------------------------


@dataclass
class _RedFinder:
    """Finds the red pixels of ``request.image``: a box, a mask, a polygon and a one-point skeleton."""

    fixed_input_size: Any = (400, 300)
    config: Any = field(
        default_factory=lambda: parse_function_config(
            {"metadata": {"name": "red", "annotations": {"type": "detector", "spec": json.dumps(SPEC)}}}
        )
    )
    default_threshold: float = 0.5
    seen: list[detector.DetectorRequest] = field(default_factory=list)

    def infer(self, request: detector.DetectorRequest) -> list[Item]:
        self.seen.append(request)
        rgb = np.asarray(request.image).astype(int)
        red = (rgb[..., 0] > 128) & (rgb[..., 1] < 128)
        rows, cols = np.flatnonzero(red.any(axis=1)), np.flatnonzero(red.any(axis=0))
        x0, y0, x1, y1 = float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)
        blob = mask("blob", red)
        assert blob is not None
        return [
            rectangle("car", [x0, y0, x1, y1], confidence=0.9),
            blob,
            polygon("outline", [x0, y0, x1, y0, x1, y1]),
            skeleton("pin", [keypoint("tip", x0, y0)]),
        ]


def _frame(fmt: str, size: tuple[int, int] = (4000, 3000)) -> str:
    array = np.zeros((size[1], size[0], 3), np.uint8)
    array[RED[1] : RED[3], RED[0] : RED[2]] = (240, 10, 10)
    ok, encoded = cv2.imencode(f".{fmt}", array[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return base64.b64encode(encoded.tobytes()).decode()


def _call(model: Any, image: str, limits: Limits) -> tuple[int, Any]:
    response = detector.handle(
        Context(logger=Logger(level=50)), Event(body={"image": image}, content_type="application/json"), model, limits
    )
    return response.status_code, json.loads(response.body)


def test_a_jpeg_over_the_pixel_limit_is_answered_in_full_frame_coordinates() -> None:
    limits = Limits(max_image_pixels=1_000_000)  # the 12 MP frame is over it; 1/8 of it (500×375) is not
    model = _RedFinder()
    status, answer = _call(model, _frame("jpg"), limits)
    assert status == 200, answer
    request = model.seen[0]
    assert (request.image.size, request.scale, request.frame_size) == ((500, 375), 8, (4000, 3000))
    box, blob, outline, pin = answer
    assert box_iou(box["points"], list(RED)) > 0.98 and np.allclose(box["points"], RED, atol=8)
    truth = np.zeros((3000, 4000), bool)
    truth[RED[1] : RED[3], RED[0] : RED[2]] = True
    assert mask_iou(decode_function_mask(blob["mask"], (3000, 4000)), truth) > 0.98
    assert np.allclose(blob["mask"][-4:], [RED[0], RED[1], RED[2] - 1, RED[3] - 1], atol=8)
    assert np.allclose(outline["points"], [RED[0], RED[1], RED[2], RED[1], RED[2], RED[3]], atol=8)
    assert np.allclose(pin["elements"][0]["points"], RED[:2], atol=8)


def test_a_png_over_the_limit_is_still_a_413_and_a_model_without_an_input_size_gets_the_full_frame() -> None:
    limits = Limits(max_image_pixels=1_000_000)
    status, answer = _call(_RedFinder(), _frame("png"), limits)
    assert status == 413 and "4000×3000" in answer["error"]
    status, answer = _call(_RedFinder(fixed_input_size=None), _frame("jpg"), limits)
    assert status == 413
    model = _RedFinder(fixed_input_size=None)
    status, answer = _call(model, _frame("jpg", (1200, 1000)), Limits())
    assert status == 200 and model.seen[0].scale == 1 and model.seen[0].image.size == (1200, 1000)


def test_a_bad_input_size_declaration_is_the_function_s_fault() -> None:
    status, answer = _call(_RedFinder(fixed_input_size=(640, 0)), _frame("jpg", (800, 600)), Limits())
    assert status == 500 and "fixed_input_size" in answer["error"]


def test_masks_the_model_encodes_itself_must_fit_the_reduced_frame() -> None:
    class _Overflowing(_RedFinder):
        def infer(self, request: detector.DetectorRequest) -> list[Item]:
            return [{"label": "blob", "type": "mask", "mask": [255, 900, 900, 900, 900], "points": []}]

    status, answer = _call(_Overflowing(), _frame("jpg"), Limits())
    assert status == 500 and "does not fit the frame" in answer["error"]


# --- every YOLO task through a generated function: the exact answer, 8 times larger -------------


@pytest.mark.parametrize("task", ["detect", "segment", "pose", "obb"])
def test_a_yolo_function_answers_a_large_jpeg_as_its_reduced_frame_times_the_scale(task: str, tmp_path: Path) -> None:
    """The synthetic export of test_yolo_from_export (64 px input, constant outputs): its answer on a
    128×128 frame is known; a 1024×1024 JPEG is decoded at 1/8 to 128×128 (under a 20 000 pixel limit that
    refuses it in full), so the answer is 8 times it."""
    from test_yolo_from_export import write_export

    from cvat_serverless.cli import main

    export = write_export(tmp_path / "best.onnx", task, end2end=False)
    assert main(["new", f"onnx/acme/{task}", "--from-yolo", str(export), "--root", str(tmp_path / "root")]) == 0
    folder = tmp_path / "root" / "onnx" / "acme" / task / "nuclio"
    function = LoadedFunction.load(folder, env={"CVAT_FN_MAX_IMAGE_PIXELS": "20000"})  # 1024² only when reduced
    try:
        answers = []
        for size, fmt in ((128, "png"), (1024, "jpg")):
            ok, raw = cv2.imencode(f".{fmt}", np.full((size, size, 3), 90, np.uint8))
            response = function.invoke({"image": base64.b64encode(raw.tobytes()).decode(), "threshold": 0.1})
            assert ok and response.status_code == 200, response.body
            answers.append(response.json())
    finally:
        function.close()
    (small,), (big,) = answers
    assert {k: v for k, v in big.items() if k not in ("points", "mask", "elements")} == {
        k: v for k, v in small.items() if k not in ("points", "mask", "elements")
    }  # label, type, confidence, rotation
    if task == "segment":
        truth = np.repeat(np.repeat(decode_function_mask(small["mask"], (128, 128)), 8, axis=0), 8, axis=1)
        assert truth.any() and np.array_equal(decode_function_mask(big["mask"], (1024, 1024)), truth)
    elif task == "pose":
        assert [e["points"] for e in big["elements"]] == [[8 * v for v in e["points"]] for e in small["elements"]]
        assert [e["outside"] for e in big["elements"]] == [e["outside"] for e in small["elements"]]
    else:
        assert big["points"] == pytest.approx([8 * v for v in small["points"]])


# --- a real fixed-resolution function: YOLOv8n (nudenet's export) on a 108 MP frame ---------------

FACE = (173, 82, 275, 180)  # nudenet's answer on astronaut() (serverless/onnx/ultralytics/yolo/nuclio/cases.py)
UPSCALE, LEFT = 12, 1900
BIG, SMALL = (12000, 9000), (7200, 5400)  # 108 MP and 38.9 MP


@pytest.fixture(scope="module")
def astronaut_frames() -> tuple[str, str]:
    """The astronaut ×12 on a flat 12000×9000 frame as JPEG, and the same frame shrunk to 7200×5400 as PNG."""
    from skimage import data

    top = (BIG[1] - 512 * UPSCALE) // 2
    canvas = np.full((BIG[1], BIG[0], 3), 30, np.uint8)
    side = 512 * UPSCALE
    canvas[top : top + side, LEFT : LEFT + side] = cv2.resize(data.astronaut(), (side, side))
    ok, jpeg = cv2.imencode(".jpg", canvas[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    small = cv2.resize(canvas, SMALL, interpolation=cv2.INTER_AREA)
    del canvas
    ok_png, png = cv2.imencode(".png", small[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert ok and ok_png
    return base64.b64encode(jpeg.tobytes()).decode(), base64.b64encode(png.tobytes()).decode()


@pytest.fixture(scope="module")
def yolo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    module = load_cases(YOLO)
    assert module is not None
    function = LoadedFunction.load(YOLO, env=module.environment(tmp_path_factory.mktemp("yolo")))
    yield function
    function.close()


def _faces(function: Any, image: str) -> tuple[int, Any]:
    response = function.invoke({"image": image, "threshold": 0.4})
    return response.status_code, json.loads(response.body)


def test_a_108_mp_jpeg_is_answered_in_full_resolution_like_the_frame_under_the_limit(
    yolo: Any, astronaut_frames: tuple[str, str]
) -> None:
    jpeg, png = astronaut_frames
    status, reduced = _faces(yolo, jpeg)
    assert status == 200, reduced
    status, full = _faces(yolo, png)
    assert status == 200, full
    reduced_faces = [d["points"] for d in reduced if d["label"] == "FACE_FEMALE"]
    full_faces = [np.asarray(d["points"]) * (BIG[0] / SMALL[0]) for d in full if d["label"] == "FACE_FEMALE"]
    assert len(reduced_faces) == len(full_faces) == 1
    top = (BIG[1] - 512 * UPSCALE) // 2
    truth = [FACE[0] * UPSCALE + LEFT, FACE[1] * UPSCALE + top, FACE[2] * UPSCALE + LEFT, FACE[3] * UPSCALE + top]
    assert box_iou(reduced_faces[0], truth) > 0.8  # where the face is on the 12000×9000 frame
    assert box_iou(reduced_faces[0], list(full_faces[0])) > 0.95  # the stated bound: same detection


def test_a_100_mp_png_is_still_refused(yolo: Any) -> None:
    buffer = io.BytesIO()
    Image.new("1", (10000, 10000)).save(buffer, format="PNG")  # PNG cannot be decoded reduced
    status, answer = _faces(yolo, base64.b64encode(buffer.getvalue()).decode())
    assert status == 413 and "10000×10000" in answer["error"]
