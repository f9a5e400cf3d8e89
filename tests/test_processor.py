"""Tests for the processor over real HTTP: passthrough, 413, 408 + restart, 503, readiness, shutdown."""

from __future__ import annotations

import concurrent.futures
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cvat_serverless.processor import free_port, start_processor

FIXTURES = Path(__file__).parent / "fixtures" / "functions"


def test_echo_passthrough_and_internal_endpoints() -> None:
    with start_processor(FIXTURES / "echo") as processor:
        response = httpx.post(processor.url + "/some/path?x=1", json={"a": 1})
        assert response.status_code == 200 and response.headers["x-echo"] == "1"
        assert response.json()["body"] == {"a": 1} and response.json()["path"] == "/some/path"
        assert httpx.get(processor.url + "/__internal/health").status_code == 200
        assert httpx.get(processor.url + "/__internal/ready").status_code == 200
        status = processor.status()
        assert status["state"] == "ready" and status["function"] == "test-echo"
        too_big = httpx.post(processor.url, content=b"x" * 70000, headers={"Content-Type": "application/json"})
        assert too_big.status_code == 413 and "maxRequestBodySize" in too_big.json()["error"]


def test_handler_exception_is_500_and_crash_restarts_worker() -> None:
    with start_processor(FIXTURES / "raising") as processor:
        response = httpx.post(processor.url, json={})
        assert response.status_code == 500 and "the handler broke" in response.text
        pid = processor.status()["workers"][0]["pid"]
        crashed = httpx.post(processor.url, json={"crash": True}, timeout=30)
        assert crashed.status_code == 500 and "died" in crashed.json()["error"]
        processor.wait_ready(60)
        assert processor.status()["workers"][0]["pid"] != pid
        assert httpx.post(processor.url, json={}).status_code == 500


def test_timeout_is_408_and_the_worker_restarts() -> None:
    with start_processor(FIXTURES / "sleeping", num_workers=1) as processor:
        pid = processor.status()["workers"][0]["pid"]
        response = httpx.post(processor.url, json={"sleep": 3}, timeout=30)
        assert response.status_code == 408 and response.json() == {"error": "handler timed out"}
        processor.wait_ready(60)
        assert processor.status()["workers"][0]["pid"] != pid
        assert httpx.post(processor.url, json={"sleep": 0}, timeout=30).status_code == 200


def test_more_concurrent_requests_than_workers_gives_503() -> None:
    with start_processor(FIXTURES / "sleeping", num_workers=2) as processor:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(httpx.post, processor.url, json={"sleep": 0.7}, timeout=30) for _ in range(4)]
            statuses = sorted(f.result().status_code for f in futures)
        assert statuses.count(200) >= 2 and 503 in statuses
        pids = {worker["pid"] for worker in processor.status()["workers"]}
        assert len(pids) == 2


def test_init_failure_shows_error_state_with_reason() -> None:
    processor = start_processor(FIXTURES / "init_fails", wait_ready=False)
    try:
        with pytest.raises(RuntimeError, match="weights not found"):
            processor.wait_ready(60)
        assert "weights not found" in processor.status()["message"]
        response = httpx.post(processor.url, json={})
        assert response.status_code == 503 and "weights not found" in response.json()["error"]
        assert httpx.get(processor.url + "/__internal/ready").status_code == 503
    finally:
        processor.stop()


def test_sigterm_shuts_down_cleanly() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cvat_serverless.processor", str(FIXTURES / "echo"), "--port", str(port)]
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/__internal/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize("num_workers", [1, 2])
def test_an_idle_worker_killed_is_restarted_and_no_request_sees_it_die(num_workers: int) -> None:
    """kill -9 of an idle worker: the event goes to a live worker (or waits for the restart), never a 500."""
    import os

    with start_processor(FIXTURES / "echo", num_workers=num_workers) as processor:
        victim = processor.status()["workers"][0]
        os.kill(victim["pid"], signal.SIGKILL)
        answers = [httpx.post(processor.url, json={"n": i}, timeout=30) for i in range(4)]
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            worker = processor.status()["workers"][0]
            if worker["state"] == "ready" and worker["pid"] not in (None, victim["pid"]):
                break
            time.sleep(0.1)
        assert worker["restarts"] == 1 and worker["pid"] != victim["pid"] and worker["state"] == "ready"
        assert processor.status()["state"] == "ready"


def _echo_with_body_limit(tmp_path: Path, limit: int) -> Path:
    target = tmp_path / "echo"
    shutil.copytree(FIXTURES / "echo", target)
    config = target / "function.yaml"
    config.write_text(config.read_text().replace("maxRequestBodySize: 65536", f"maxRequestBodySize: {limit}"))
    return target


def test_bodies_larger_than_the_shared_area_grow_it_both_ways(tmp_path: Path) -> None:
    """Event bodies and answers cross through each worker's shared memory: past its first 1 MiB the area
    grows (the worker grows it for an answer the processor has not seen yet); sizes going down and up
    again, and two workers answering at once, each get back exactly their own body."""
    function = _echo_with_body_limit(tmp_path, 16 * 2**20)
    sizes = [10, 3 * 2**20, 200, 7 * 2**20, 1]
    with start_processor(function, num_workers=2) as processor, httpx.Client(timeout=60) as client:
        for size in sizes:
            sent = {"text": "".join(chr(97 + (i * 7 + size) % 26) for i in range(size))}
            answer = client.post(processor.url, json=sent)
            assert answer.status_code == 200 and answer.json()["body"] == sent, size

        def round_trip(index: int) -> bool:
            sent = {"worker": index, "text": str(index) * (2 * 2**20 + index)}
            return httpx.post(processor.url, json=sent, timeout=60).json()["body"] == sent

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            assert all(pool.map(round_trip, range(6)))
        assert len({worker["pid"] for worker in processor.status()["workers"]}) == 2
