"""OpenCV tracker: accuracy over 20 synthetic frames, and states continuing across workers."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import httpx

from common.image import encode_image
from cvat_serverless.harness.discovery import load_cases
from cvat_serverless.harness.expect import box_iou
from cvat_serverless.processor import start_processor
from cvat_serverless.runtime import LoadedFunction

FOLDER = Path(__file__).parents[1] / "serverless/opencv/tracker/nuclio"


def _cases() -> ModuleType:
    cases = load_cases(FOLDER)
    assert cases is not None
    return cases


def test_mean_iou_over_twenty_panned_and_zoomed_frames() -> None:
    cases = _cases()
    function = LoadedFunction.load(FOLDER)
    try:
        answer = function.invoke({"image": encode_image(cases.frame_image(0)), "shapes": [cases.true_box(0)]}).json()
        ious = []
        for frame in range(1, 21):
            body = {"image": encode_image(cases.frame_image(frame)), "states": answer["states"]}
            answer = function.invoke(body).json()
            ious.append(box_iou(answer["shapes"][0], cases.true_box(frame)))
    finally:
        function.close()
    assert sum(ious) / len(ious) >= 0.7, ious
    state_bytes = len(answer["states"][0])
    assert state_bytes < 64 * 1024


def test_consecutive_frames_on_different_workers() -> None:
    cases = _cases()
    with start_processor(FOLDER, num_workers=2) as processor, httpx.Client(base_url=processor.url, timeout=60) as http:
        answer = http.post("/", json={"image": encode_image(cases.frame_image(0)), "shapes": [cases.true_box(0)]})
        states = answer.json()["states"]
        for frame in range(1, 7):
            frame_body = {"image": encode_image(cases.frame_image(frame)), "states": states}
            response = http.post("/", content=json.dumps(frame_body), headers={"Content-Type": "application/json"})
            assert response.status_code == 200, response.text
            states = response.json()["states"]
            assert box_iou(response.json()["shapes"][0], cases.true_box(frame)) >= 0.6
        # Free workers are taken in turn (whichever booted first starts), so frames alternated.
        assert sorted(w["handled"] for w in processor.status()["workers"]) == [3, 4]
        forged = http.post("/", json={"image": encode_image(cases.frame_image(1)), "states": [states[0][:-4] + "beef"]})
        assert forged.status_code == 400 and "signature" in forged.json()["error"]


def test_a_state_survives_a_killed_processor_and_a_platform_restart(tmp_path: Path) -> None:
    """The platform keeps one function-state secret in its data folder (it used to draw one per processor)."""
    from cvat_serverless.stack import LocalStack

    cases = _cases()
    start = {"image": encode_image(cases.frame_image(0)), "shapes": [cases.true_box(0)]}

    def serve() -> LocalStack:
        stack = LocalStack(folders=[FOLDER], data_dir=tmp_path / "data", num_workers=1)
        assert stack.start(ready_timeout_s=120) == {}
        return stack

    def url(stack: LocalStack) -> str:
        assert stack.registry is not None
        return f"http://127.0.0.1:{stack.registry.functions['opencv-tracker'].config()['status']['httpPort']}"

    stack = serve()
    try:
        states = httpx.post(url(stack), json=start, timeout=60).json()["states"]
        managed = stack.registry.functions["opencv-tracker"]  # type: ignore[union-attr]
        assert managed.handle is not None
        managed.handle.process.kill()
        managed.handle.process.wait()
        stack.registry.supervise()  # type: ignore[union-attr]
        managed.handle.wait_ready(60)
        body = {"image": encode_image(cases.frame_image(1)), "states": states}
        answer = httpx.post(url(stack), json=body, timeout=60)
        assert answer.status_code == 200, answer.text
    finally:
        stack.stop()
    stack = serve()
    try:
        body = {"image": encode_image(cases.frame_image(2)), "states": answer.json()["states"]}
        assert httpx.post(url(stack), json=body, timeout=60).status_code == 200
    finally:
        stack.stop()
    assert oct((tmp_path / "data" / "function_state_secret").stat().st_mode & 0o777) == "0o600"
