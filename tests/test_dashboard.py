"""Tests for the dashboard: the exact requests CVAT's lambda manager sends, states, restarts, token."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from cvat_serverless.dashboard import FunctionRegistry, build_dashboard, discover_functions

FIXTURES = Path(__file__).parent / "fixtures" / "functions"
REPO = Path(__file__).parents[1]
# Headers on every dashboard request from CVAT (contract §2.2).
CVAT_HEADERS = {
    "x-nuclio-project-name": "cvat",
    "x-nuclio-function-namespace": "nuclio",
    "x-nuclio-invoke-via": "domain-name",
    "X-Nuclio-Invoke-Timeout": "120s",
}


@pytest.fixture(scope="module")
def registry() -> Iterator[FunctionRegistry]:
    pool = FunctionRegistry(folders=[FIXTURES / "echo", FIXTURES / "init_fails"])
    pool.start()
    pool.wait_ready(60)
    yield pool
    pool.stop()


def test_offline_functions_are_discovered() -> None:
    found = discover_functions(REPO / "serverless")
    expected = {
        REPO / "serverless" / p / "nuclio"
        for p in ("pytorch/timesler/mtcnn", "onnx/paddlepaddle/ppocr-v4-det", "opencv/grabcut")
    }
    assert expected <= set(found)
    assert len(discover_functions(REPO / "serverless", only_offline=False)) >= len(found)


def test_list_and_get_like_cvat(registry: FunctionRegistry) -> None:
    with TestClient(build_dashboard(registry)) as client:
        listed = client.get("/api/functions", headers=CVAT_HEADERS).json()
        assert set(listed) == {"test-echo", "test-init-fails"}
        echo = listed["test-echo"]
        assert echo["metadata"]["annotations"]["type"] == "detector"
        assert echo["spec"]["description"] == "echoes the request"
        assert echo["status"]["state"] == "ready" and isinstance(echo["status"]["httpPort"], int)
        failed = client.get("/api/functions/test-init-fails", headers=CVAT_HEADERS).json()
        assert failed["status"]["state"] == "error" and "weights not found" in failed["status"]["message"]
        assert client.get("/api/functions/nope", headers=CVAT_HEADERS).status_code == 404
        assert client.get("/api/functions", headers={"x-nuclio-project-name": "other"}).json() == {}


def test_invocation_passes_status_headers_and_body_through(registry: FunctionRegistry) -> None:
    with TestClient(build_dashboard(registry)) as client:
        headers = {**CVAT_HEADERS, "x-nuclio-function-name": "test-echo", "x-nuclio-path": "/"}
        answer = client.post("/api/function_invocations", json={"image": "abc"}, headers=headers)
        assert answer.status_code == 200 and answer.headers["x-echo"] == "1"
        assert answer.json()["body"] == {"image": "abc"}
        assert client.post("/api/function_invocations", json={}, headers=CVAT_HEADERS).status_code == 400
        unknown = client.post(
            "/api/function_invocations", json={}, headers={**CVAT_HEADERS, "x-nuclio-function-name": "nope"}
        )
        assert unknown.status_code == 404
        broken = client.post(
            "/api/function_invocations", json={}, headers={**CVAT_HEADERS, "x-nuclio-function-name": "test-init-fails"}
        )
        assert broken.status_code == 503 and "weights not found" in broken.json()["error"]


def test_direct_invocation_on_http_port(registry: FunctionRegistry) -> None:
    port = registry.functions["test-echo"].config()["status"]["httpPort"]
    assert httpx.post(f"http://127.0.0.1:{port}", json={"a": 1}).json()["body"] == {"a": 1}


def test_crashed_processor_is_restarted(registry: FunctionRegistry) -> None:
    managed = registry.functions["test-echo"]
    assert managed.handle is not None
    managed.handle.process.kill()
    managed.handle.process.wait()
    registry.supervise()
    managed.handle.wait_ready(60)
    assert managed.restarts == 1 and managed.state()["state"] == "ready"


def test_bearer_token(registry: FunctionRegistry) -> None:
    with TestClient(build_dashboard(registry, token="s3cret")) as client:
        assert client.get("/api/functions").status_code == 401
        assert client.get("/api/functions", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_platform_command_serves_and_stops(tmp_path: Path) -> None:
    import subprocess
    import sys

    from cvat_serverless.processor import free_port

    port, gateway = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cvat_serverless.cli",
            "platform",
            str(FIXTURES / "echo"),
            "--dashboard-port",
            str(port),
            "--gateway-port",
            str(gateway),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                listed = httpx.get(f"http://127.0.0.1:{port}/api/functions").json()
                httpx.get(f"http://127.0.0.1:{gateway}/api/server/about")  # the gateway starts after the dashboard
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert listed["test-echo"]["status"]["state"] == "ready"
        about = httpx.get(f"http://127.0.0.1:{gateway}/api/server/about").json()
        assert about["version"].startswith("2.80")
        functions = httpx.get(f"http://127.0.0.1:{gateway}/api/lambda/functions", auth=("admin", "admin")).json()
        assert [f["id"] for f in functions] == ["test-echo"]
        process.terminate()
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0 and "ready    test-echo" in output
    finally:
        if process.poll() is None:
            process.kill()


def test_a_chunked_body_over_the_limit_is_refused_before_it_is_held(registry: FunctionRegistry) -> None:
    """The dashboard used to buffer any body (300 MiB chunked took 550 MB) before the processor's 413."""
    limit = registry.functions["test-echo"].spec.max_request_body_size

    def chunks() -> Iterator[bytes]:
        for _ in range(8):  # no Content-Length: only counting the chunks can stop it
            yield b"x" * (limit // 4)

    with TestClient(build_dashboard(registry)) as client:
        headers = {**CVAT_HEADERS, "x-nuclio-function-name": "test-echo", "content-type": "application/json"}
        answer = client.post("/api/function_invocations", content=chunks(), headers=headers)
        # The dashboard itself refuses it (the processor's own 413 would come only after buffering all).
        assert answer.status_code == 413 and answer.json()["error"].startswith("Failed to invoke function")
        assert "maxRequestBodySize" in answer.json()["error"]
        declared = client.post(
            "/api/function_invocations", content=b"x", headers={**headers, "content-length": str(limit + 1)}
        )
        assert declared.status_code == 413
        ok = client.post("/api/function_invocations", json={"a": 1}, headers=headers)
        assert ok.status_code == 200


def test_function_get_is_answered_from_the_supervised_status(registry: FunctionRegistry) -> None:
    """CVAT GETs the function on every online call: no processor round trip per GET."""
    with TestClient(build_dashboard(registry, supervise_interval_s=60)) as client:
        first = client.get("/api/functions/test-echo").json()["status"]
        assert first["state"] == "ready"
        managed = registry.functions["test-echo"]
        assert managed.handle is not None
        url = managed.handle.url
        try:
            managed.handle.url = "http://127.0.0.1:9"  # nothing listens there: a per-GET fetch would say "building"
            for _ in range(20):
                assert client.get("/api/functions/test-echo").json()["status"]["state"] == "ready"
        finally:
            managed.handle.url = url


def test_platform_prints_one_line_per_function_and_commands_that_work_as_printed(tmp_path: Path) -> None:
    """Issue 15: a quiet terminal, and the printed "try" commands run on a real photo exactly as printed."""
    import queue
    import shlex
    import subprocess
    import sys
    import threading

    from PIL import Image
    from skimage import data

    from cvat_serverless.processor import free_port

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(data.astronaut()).save(photos / "astronaut.jpg", quality=90)
    (tmp_path / "photo.jpg").write_bytes((photos / "astronaut.jpg").read_bytes())
    command = [
        sys.executable,
        "-m",
        "cvat_serverless.cli",
        "platform",
        str(REPO / "serverless/pytorch/timesler/mtcnn/nuclio"),
    ]
    command += [
        "--dashboard-port",
        str(free_port()),
        "--gateway-port",
        str(free_port()),
        "--data-dir",
        str(tmp_path / "data"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    printed: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while not any(line.startswith("point a CVAT server") for line in printed):
            assert time.monotonic() < deadline and process.poll() is None, "".join(printed)
            try:
                printed.append(lines.get(timeout=1))
            except queue.Empty:
                continue
        text = "".join(printed)
        assert "ready    pth-timesler-mtcnn" in text
        assert " INFO " not in text and "httpx" not in text and "Warning" not in text, text  # no log noise
        start = next(index for index, line in enumerate(printed) if line.startswith("try"))
        tries = [line.strip() for line in printed[start + 1 :]]
        tries = [line for line in tries if line and not line.startswith("point a CVAT")]
        assert len(tries) == 2, tries
        for line in tries:  # exactly as printed, in the folder that holds photo.jpg and photos/
            done = subprocess.run(shlex.split(line), cwd=tmp_path, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, (line, done.stdout[-500:], done.stderr[-2000:])
        faces = json.loads(subprocess.run(shlex.split(tries[0]), cwd=tmp_path, capture_output=True, text=True).stdout)
        assert any(item["label"] == "face" for item in faces)
        assert (tmp_path / "out.json").exists()
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
