"""``cvat-serverless new --from-yolo``: a folder per task and head layout from a synthetic ultralytics export.

Each export is a small ONNX graph with ultralytics' real I/O names and shapes at imgsz 64 (``images``
1×3×64×64 → ``output0`` [+ ``output1`` prototypes]; 84 anchors, or 84 end-to-end rows) and its
metadata_props as ultralytics 8.4 writes them (checked against real exports of yolov8n / yolo26n
built from their yamls). The outputs are constants, so the answer on a 128 × 128 image (scale 2,
no padding) is known exactly.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from common.image import encode_image
from common.labels import load_function_config
from common.masks import decode_function_mask
from cvat_serverless.cli import main
from cvat_serverless.harness import generated_image
from cvat_serverless.harness.bad_inputs import bad_inputs
from cvat_serverless.harness.discovery import load_cases
from cvat_serverless.harness.runner import run_bad_input, run_case, send
from cvat_serverless.harness.transports import TRANSPORTS, InProcessTransport
from cvat_serverless.lint import lint_paths
from cvat_serverless.runtime import LoadedFunction

REPO = Path(__file__).parents[1]
FAKE_NUCTL = Path(__file__).parent / "fixtures" / "fake_nuctl"
SIZE, ANCHORS, MASKS = 64, 84, 32
NAMES = {0: "cat", 1: "dog", 2: "bird"}
PERSON = {0: "person"}
BOX = (8.0, 16.0, 40.0, 48.0)  # class 1 ("dog") at 0.9, network xyxy; x2 on the 128 px test image
KEYPOINTS = np.array([[10 + i, 20 + i, 0.9 if i < 16 else 0.1] for i in range(17)], np.float32)
OBB = (32.0, 32.0, 20.0, 40.0, 0.3)  # cx, cy, w, h, radians: w < h, so ultralytics turns it by 90°


def _extra(task: str) -> np.ndarray:
    if task == "segment":
        coefficients = np.zeros(MASKS, np.float32)
        coefficients[0] = 10.0
        return coefficients
    if task == "pose":
        return KEYPOINTS.ravel()
    return np.array([OBB[4]], np.float32) if task == "obb" else np.zeros(0, np.float32)


def _rows(task: str, end2end: bool) -> np.ndarray:
    """The head output: one 'dog' at 0.9, a near-duplicate at 0.8 (NMS drops it: classic only), a 'bird' at 0.05."""
    extra, names = _extra(task), PERSON if task == "pose" else NAMES
    box = OBB[:4] if task == "obb" else BOX
    duplicate = (box[0] + 1, *box[1:])
    found = [(box, len(names) // 2, 0.9), (duplicate, len(names) // 2, 0.8), (box, len(names) - 1, 0.05)]
    if end2end:  # x1, y1, x2, y2 (obb: cx, cy, w, h), score, class, extra; the duplicate is gone already
        rows = np.zeros((ANCHORS, 6 + len(extra)), np.float32)
        for index, (b, label, score) in enumerate(found[::2]):
            rows[index] = [*b, score, label, *extra]
        return rows[None]
    rows = np.zeros((4 + len(names) + len(extra), ANCHORS), np.float32)
    for index, (b, label, score) in enumerate(found):
        centre = b if task == "obb" else ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1])
        rows[:4, index] = centre
        rows[4 + label, index] = score
        rows[4 + len(names) :, index] = extra
    return rows[None]


def write_export(
    path: Path, task: str, end2end: bool, metadata: bool = True, names: dict[int, str] | None = None
) -> Path:
    """A constant-output ONNX graph with an ultralytics export's I/O and metadata."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    outputs = {"output0": _rows(task, end2end)}
    if task == "segment":
        protos = np.full((1, MASKS, SIZE // 4, SIZE // 4), -1.0, np.float32)
        protos[0, 0, :, : SIZE // 8] = 1.0  # keeps network x < 32
        outputs["output1"] = protos
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
    ] + [helper.make_node("Add", [f"{name}_value", "nothing"], [name]) for name in outputs]
    graph = helper.make_graph(
        nodes,
        "main_graph",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(v.shape)) for name, v in outputs.items()],
        [numpy_helper.from_array(v, f"{name}_value") for name, v in outputs.items()]
        + [numpy_helper.from_array(np.array(0, np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata:
        props = {
            "description": "Ultralytics YOLO model",
            "author": "Ultralytics",
            "version": "8.4.190",
            "stride": "32",
            "task": task,
            "batch": "1",
            "imgsz": f"[{SIZE}, {SIZE}]",
            "names": repr(names or (PERSON if task == "pose" else NAMES)),
            "channels": "3",
            "end2end": str(end2end),
        }
        if task == "pose":
            props["kpt_shape"] = "[17, 3]"
        helper.set_model_props(model, props)
    onnx.save(model, path)
    return path


def _new(tmp_path: Path, task: str, end2end: bool, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    export = write_export(tmp_path / "best.onnx", task, end2end)
    target = f"onnx/acme/{task}-{'e2e' if end2end else 'classic'}"
    assert main(["new", target, "--from-yolo", str(export), "--root", str(tmp_path / "root")]) == 0
    return tmp_path / "root" / target / "nuclio", capsys.readouterr().out


def _answer(folder: Path) -> list[dict]:
    function = LoadedFunction.load(folder, env={})
    try:
        response = function.invoke({"image": encode_image(np.full((128, 128, 3), 90, np.uint8)), "threshold": 0.1})
        assert response.status_code == 200, response.body
        return response.json()
    finally:
        function.close()


def _check_geometry(task: str, answer: list[dict]) -> None:
    (item,) = answer  # the duplicate is suppressed (classic) or absent (end-to-end); the last is under 0.1
    assert item["label"] == ("person" if task == "pose" else "dog") and item["confidence"] == "0.9000"
    if task == "detect":
        assert item["type"] == "rectangle" and item["points"] == [2 * v for v in BOX] and "rotation" not in item
    elif task == "segment":
        truth = np.zeros((128, 128), bool)
        truth[32:96, 16:64] = True  # the box cut at network x < 32, scaled by 2
        assert item["type"] == "mask" and (decode_function_mask(item["mask"], (128, 128)) == truth).all()
    elif task == "pose":
        elements = item["elements"]
        assert item["type"] == "skeleton" and [e["label"] for e in elements][:3] == ["nose", "left_eye", "right_eye"]
        assert [e["points"] for e in elements] == [[2.0 * x, 2.0 * y] for x, y, _ in KEYPOINTS]
        assert [e["outside"] for e in elements] == [0] * 16 + [1]
    else:
        cx, cy, w, h, angle = OBB
        assert item["type"] == "rectangle" and item["rotation"] == pytest.approx(math.degrees(angle + math.pi / 2))
        assert item["points"] == pytest.approx([2 * (cx - h / 2), 2 * (cy - w / 2), 2 * (cx + h / 2), 2 * (cy + w / 2)])


@pytest.mark.parametrize("end2end", [False, True], ids=["classic", "end2end"])
@pytest.mark.parametrize("task", ["detect", "segment", "pose", "obb"])
def test_generated_folder_passes_lint_harness_and_answers(
    task: str, end2end: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, printed = _new(tmp_path, task, end2end, capsys)
    assert printed.splitlines()[0] == f"created {folder}"
    assert ("end-to-end" if end2end else "classic") in printed
    assert sorted(p.name for p in folder.iterdir()) == [
        "cases.py",
        "function-gpu.yaml",
        "function.yaml",
        "main.py",
        "model.onnx",
        "model_handler.py",
    ]
    assert [str(p) for p in lint_paths([folder])] == []
    config = load_function_config(folder, environ={})
    expected_type = {"detect": "rectangle", "segment": "mask", "pose": "skeleton", "obb": "rectangle"}[task]
    assert {label.type for label in config.labels} == {expected_type}
    if task != "pose":
        assert config.names_by_id() == NAMES
    else:
        (person,) = config.labels
        assert len(person.sublabels) == 17 and person.sublabels[-1].name == "right_ankle"
        assert 'data-node-from="16" data-node-to="14"' in person.svg  # the COCO skeleton's edges
    _check_geometry(task, _answer(folder))
    client = InProcessTransport().open(folder, {})
    try:
        for case in load_cases(folder).CASES:
            run_case(client, case, "inprocess")
        for bad in bad_inputs(config):
            if bad.transports is None:
                run_bad_input(client, bad, "inprocess")
    finally:
        client.close()


@pytest.mark.parametrize("task", ["obb", "pose"])
def test_shapes_survive_cvats_lambda_api(task: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through the lambda gateway with cvat-sdk (online call and whole-task request): rotation and skeletons kept."""
    transport = TRANSPORTS["lambda"]
    if (why := getattr(transport, "unavailable", lambda: None)()) is not None:
        pytest.skip(why)
    folder, _ = _new(tmp_path, task, False, capsys)
    client = transport.open(folder, {})
    try:
        image = generated_image(f"from-yolo-grey-{task}", lambda: np.full((128, 128, 3), 90, np.uint8))
        result = send(client, {"image": image, "threshold": 0.1}, "lambda")
    finally:
        client.close()
    assert result.status == 200, result.payload
    for item in result.payload:
        item["confidence"] = f"{float(item['confidence']):.4f}"
        for element in item.get("elements", []):
            element["outside"] = int(element.get("outside", 0))
    _check_geometry(task, result.payload)


def test_real_weights_nudenet_yolov8n(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """nudenet's 320n.onnx (an ultralytics 8.2.46 export, dynamic input): labels and size from its metadata."""
    import importlib.util

    from skimage import data

    from cvat_serverless.harness import Case, expect

    spec = importlib.util.find_spec("nudenet")
    assert spec is not None and spec.origin is not None
    main(
        [
            "new",
            "onnx/notai/nudenet",
            "--from-yolo",
            str(Path(spec.origin).parent / "320n.onnx"),
            "--root",
            str(tmp_path),
        ]
    )
    assert "detect export, classic (NMS in the handler) head" in capsys.readouterr().out
    folder = tmp_path / "onnx/notai/nudenet/nuclio"
    config = load_function_config(folder, environ={})
    assert len(config.labels) == 18 and config.names_by_id()[1] == "FACE_FEMALE"
    face = [173.0, 82.0, 275.0, 180.0]  # nudenet's own answer on astronaut(): x, y, w, h = 173, 82, 102, 98

    def wide() -> np.ndarray:
        canvas = np.full((512, 900, 3), 30, np.uint8)
        canvas[:, 200:712] = data.astronaut()
        return canvas

    client = InProcessTransport().open(folder, {})
    try:
        for image, box in ((data.astronaut, face), (wide, [face[0] + 200, face[1], face[2] + 200, face[3]])):
            check = expect.detections(min_count=1, boxes=[("FACE_FEMALE", box, 0.5)], types=["rectangle"])
            body = {"image": generated_image(f"nudenet-{image.__name__}", image), "threshold": 0.4}
            run_case(client, Case("face", body=body, check=check), "inprocess")
    finally:
        client.close()


def test_printed_deploy_command_deploys_the_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, printed = _new(tmp_path, "detect", False, capsys)
    (lint, harness, deploy) = printed.splitlines()[-3:]
    assert lint.strip() == f".venv/bin/cvat-serverless lint {folder.parent}"
    assert harness.strip() == f".venv/bin/cvat-serverless invoke {folder} --image photo.jpg"  # outside serverless/
    assert deploy.strip() == f"serverless/deploy_cpu.sh {folder.parent}"
    log = tmp_path / "nuctl.log"
    env = {**os.environ, "FAKE_NUCTL_LOG": str(log), "PATH": f"{FAKE_NUCTL}:/usr/bin:/bin"}
    subprocess.run(["bash", "-c", deploy.strip()], cwd=REPO, env=env, check=True, capture_output=True, timeout=60)
    calls = log.read_text()
    assert re.search(r"nuctl deploy --project-name cvat --path \S+ --file \S+/function\.yaml", calls)
    assert "context: ./model.onnx" in calls and "context: ./common/yolo.py" in calls


def test_new_from_yolo_refuses_what_it_cannot_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bare = write_export(tmp_path / "bare.onnx", "detect", False, metadata=False)
    with pytest.raises(SystemExit, match="no ultralytics metadata"):
        main(["new", "onnx/a/b", "--from-yolo", str(bare), "--root", str(tmp_path)])
    not_onnx = tmp_path / "best.onnx.txt"
    not_onnx.write_text("hello")
    with pytest.raises(SystemExit, match="not an ONNX model"):
        main(["new", "onnx/a/b", "--from-yolo", str(not_onnx), "--root", str(tmp_path)])
    duplicate = write_export(tmp_path / "dup.onnx", "detect", False, names={0: "cat", 1: "cat", 2: "dog"})
    with pytest.raises(SystemExit, match="break CVAT's rules"):
        main(["new", "onnx/a/b", "--from-yolo", str(duplicate), "--root", str(tmp_path)])
    with pytest.raises(SystemExit, match="exactly one of"):
        main(["new", "onnx/a/b", "--root", str(tmp_path)])
    assert not (tmp_path / "onnx").exists()
