"""Whole-task requests outlive what runs them (issue 13): a killed rq worker, a killed platform.

Frames are saved every 4 frames (``CVAT_GATEWAY_SAVE_EVERY_FRAMES``), each save a checkpoint in the
same SQLite transaction. After the kill the same request id goes on from its checkpoint: every
frame ends up annotated exactly once (the fixture detector gives each frame one car and one person),
and the frames saved before the kill are not sent to the function again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cvat_sdk import Client, make_client
from cvat_sdk.api_client import exceptions
from gateway_support import FIXTURES, create_task, noise, submit, wait_request
from prometheus_client.parser import text_string_to_metric_families

from cvat_serverless.gateway.jobs import MAX_RESUMES
from cvat_serverless.gateway.queues import InProcessQueue
from cvat_serverless.gateway.store import TaskStore
from cvat_serverless.harness.load import children
from cvat_serverless.harness.redis_server import RedisServer, free_port
from cvat_serverless.stack import LocalStack

DETECTOR = "test-lambda-detector"
LABELS = [{"name": "car"}, {"name": "person"}, {"name": "weather", "type": "tag"}]
FRAMES = 30
SAVE_EVERY = 4
IN_FLIGHT = 3  # the fixture's one worker + 2
SLOW = {"FIXTURE_SLEEP": "0.1"}


def shapes_per_frame(task: Any) -> dict[int, int]:
    counted: dict[int, int] = {}
    for shape in task.get_annotations().shapes:
        counted[shape.frame] = counted.get(shape.frame, 0) + 1
    return counted


def assert_every_frame_once(task: Any) -> None:
    counted = shapes_per_frame(task)
    assert sorted(counted) == list(range(FRAMES)) and set(counted.values()) == {2}, counted  # car + person


def wait_for(what: str, ready: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def progress(client: Client, rq_id: str) -> int:
    return int(client.api_client.lambda_api.retrieve_requests(rq_id)[0].progress or 0)


def saved_frames(data_dir: Path, rq_id: str) -> int:
    """How many frames the request's checkpoint says are saved (read as any SQLite client would)."""
    with sqlite3.connect(data_dir / "tasks.sqlite3") as db:
        row = db.execute("SELECT done FROM request_checkpoints WHERE request_id = ?", (rq_id,)).fetchone()
    return int(row[0]) if row else 0


def function_calls(processor_url: str) -> int:
    """Frames the processor answered (its own request counter, health checks left out)."""
    text = httpx.get(f"{processor_url}/metrics", timeout=10).text
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "cvat_serverless_requests_total"
            and not sample.labels.get("route", "").startswith(("/__internal", "/metrics"))
        )
    )


# --- RQ: a worker killed with SIGKILL ---------------------------------------------------------------


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every process under it (a forking rq worker runs its job in a child)."""
    started = children(pid)
    os.kill(pid, signal.SIGKILL)
    for child in started:
        with contextlib.suppress(ProcessLookupError, FileNotFoundError):
            kill_tree(child)


def test_a_killed_rq_worker_is_resumed_from_its_checkpoint(
    redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It used to stay ``started`` until RQ's heartbeat expired (24 h for a job), then fail as abandoned."""
    monkeypatch.setenv("CVAT_GATEWAY_SAVE_EVERY_FRAMES", str(SAVE_EVERY))  # the rq workers inherit it
    stack = LocalStack(
        folders=[FIXTURES / "lambda_detector"], data_dir=tmp_path / "data", env=SLOW, redis_url=redis_server.url
    )
    with stack.running(120), make_client(stack.gateway_url, credentials=("admin", "admin")) as client:
        task = create_task(client, tmp_path, [noise(i) for i in range(FRAMES)], LABELS)
        call = submit(client, function=DETECTOR, task=task.id, cleanup=True)
        wait_for("the request did not get far", lambda: progress(client, call.id) >= 40)
        kill_tree(stack.workers[0].process.pid)
        saved = saved_frames(stack.data_dir, call.id)
        assert saved >= 2 * SAVE_EVERY
        done = wait_request(client, call.id, timeout_s=60)
        assert done.status == "finished" and done.progress == 100, done.exc_info
        assert stack.rq_restarts >= 1
        assert_every_frame_once(task)  # a second cleanup would have dropped the saved frames
        assert redis_server.client().exists(f"rq:job:{call.id}")
        assert b'"resumes": 1' in redis_server.client().hget(f"rq:job:{call.id}", "meta")
        processor = stack.registry.functions[DETECTOR].handle  # type: ignore[union-attr]
        # from the start again would cost FRAMES + the frames done before the kill (>= saved)
        assert function_calls(processor.url) <= FRAMES + SAVE_EVERY + IN_FLIGHT < FRAMES + saved

        # a request cancelled (DELETE) just before its worker is killed is not run again
        other = create_task(client, tmp_path / "other", [noise(i) for i in range(FRAMES)], LABELS)
        cancelled = submit(client, function=DETECTOR, task=other.id)
        wait_for("the request did not start", lambda: progress(client, cancelled.id) >= 20)
        client.api_client.lambda_api.delete_requests(cancelled.id)
        kill_tree(stack.workers[0].process.pid)
        kept = shapes_per_frame(other)
        wait_for("the worker was not restarted", lambda: stack.rq_restarts >= 2)
        time.sleep(1.5)  # a resumed job would have run several frames by now
        with pytest.raises(exceptions.NotFoundException):
            client.api_client.lambda_api.retrieve_requests(cancelled.id)
        assert shapes_per_frame(other) == kept and len(kept) < FRAMES


def test_a_redis_restart_mid_request_resumes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis goes away under a running job: the job and its worker fail to reach it and the worker exits;
    once Redis is back (its AOF kept the job) the job is resumed from its checkpoint.
    It used to stay ``started`` for good. (Its own redis-server: the session's one is left alone.)"""
    monkeypatch.setenv("CVAT_GATEWAY_SAVE_EVERY_FRAMES", str(SAVE_EVERY))
    server = RedisServer().start()
    try:
        stack = LocalStack(
            folders=[FIXTURES / "lambda_detector"], data_dir=tmp_path / "data", env=SLOW, redis_url=server.url
        )
        with stack.running(120), make_client(stack.gateway_url, credentials=("admin", "admin")) as client:
            task = create_task(client, tmp_path, [noise(i) for i in range(FRAMES)], LABELS)
            call = submit(client, function=DETECTOR, task=task.id, cleanup=True)
            wait_for("the request did not get far", lambda: progress(client, call.id) >= 40)
            server.stop()
            time.sleep(2)
            server.start()
            done = wait_request(client, call.id, timeout_s=60)
            assert done.status == "finished" and done.progress == 100, done.exc_info
            assert_every_frame_once(task)
    finally:
        server.close()


# --- the platform (embedded queue) killed with SIGKILL and started again ----------------------------


@contextmanager
def platform(
    data_dir: Path, dashboard_port: int, gateway_port: int, redis_url: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``cvat-serverless platform`` in its own process group (so processors it leaves behind are ended)."""
    args = [sys.executable, "-m", "cvat_serverless.cli", "platform", str(FIXTURES / "lambda_detector")]
    args += ["--data-dir", str(data_dir), "--dashboard-port", str(dashboard_port), "--gateway-port", str(gateway_port)]
    args += ["--redis-url", redis_url] if redis_url else []
    args += ["--env", f"FIXTURE_SLEEP={SLOW['FIXTURE_SLEEP']}", "--ready-timeout", "60"]
    env = {**os.environ, "CVAT_GATEWAY_SAVE_EVERY_FRAMES": str(SAVE_EVERY)}
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{gateway_port}/api/server/about"
        wait_for("the platform did not start", lambda: _answers(url) or process.poll() is not None, 90)
        assert process.poll() is None, "the platform exited"
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever a killed platform left running


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie may never be reaped in a container)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def kill_and_see_its_children_end(process: subprocess.Popen[bytes]) -> None:
    """kill -9 the platform: the processors and rq workers it started end on their own within seconds
    (they used to live on as orphans, holding ports and models, with rq jobs for a gone dashboard)."""
    started = children(process.pid)
    assert started, "the platform started no processes?"
    process.kill()
    process.wait(10)
    wait_for("the killed platform's children did not end", lambda: not any(map(running, started)), 20)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def processor_url(dashboard_port: int) -> str:
    function = httpx.get(f"http://127.0.0.1:{dashboard_port}/api/functions/{DETECTOR}", timeout=10).json()
    return f"http://127.0.0.1:{function['status']['httpPort']}"


def test_a_killed_platform_resumes_its_request_and_not_a_cancelled_one(tmp_path: Path) -> None:
    """It used to lose both: the embedded queue kept requests in memory (GET was a 404 after the restart)."""
    data_dir, ports = tmp_path / "data", (free_port(), free_port())
    gateway = f"http://127.0.0.1:{ports[1]}"
    with platform(data_dir, *ports) as first, make_client(gateway, credentials=("admin", "admin")) as client:
        cancelled_task = create_task(client, tmp_path / "a", [noise(i) for i in range(FRAMES)], LABELS)
        task = create_task(client, tmp_path / "b", [noise(i) for i in range(FRAMES)], LABELS)
        cancelled = submit(client, function=DETECTOR, task=cancelled_task.id)
        wait_for("the first request did not start", lambda: progress(client, cancelled.id) >= 10)
        client.api_client.lambda_api.delete_requests(cancelled.id)
        call = submit(client, function=DETECTOR, task=task.id)  # runs once the cancelled one has stopped
        wait_for("the request did not get far", lambda: progress(client, call.id) >= 40)
        kept = shapes_per_frame(cancelled_task)
        kill_and_see_its_children_end(first)
    saved = saved_frames(data_dir, call.id)
    assert saved >= 2 * SAVE_EVERY and 0 < len(kept) < FRAMES
    with platform(data_dir, *ports), make_client(gateway, credentials=("admin", "admin")) as client:
        done = wait_request(client, call.id, timeout_s=60)
        assert done.id == call.id and done.status == "finished" and done.progress == 100, done.exc_info
        task = client.tasks.retrieve(task.id)
        assert_every_frame_once(task)
        assert function_calls(processor_url(ports[0])) == FRAMES - saved  # the saved frames are not run again
        with pytest.raises(exceptions.NotFoundException):
            client.api_client.lambda_api.retrieve_requests(cancelled.id)
        assert call.id in [item.id for item in client.api_client.lambda_api.list_requests()[0]]
        assert shapes_per_frame(client.tasks.retrieve(cancelled_task.id)) == kept


def test_a_request_cut_short_by_a_clean_stop_goes_on_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopping the stack is no fault: the request stops at its next frame, stays queued (not counted
    as a resume) and the next stack on the data folder finishes it."""
    monkeypatch.setenv("CVAT_GATEWAY_SAVE_EVERY_FRAMES", str(SAVE_EVERY))  # the gateway runs in this process

    def make_stack() -> LocalStack:
        return LocalStack(folders=[FIXTURES / "lambda_detector"], data_dir=tmp_path / "data", env=SLOW)

    with make_stack().running(120) as stack, make_client(stack.gateway_url, credentials=("admin", "admin")) as client:
        task = create_task(client, tmp_path, [noise(i) for i in range(FRAMES)], LABELS)
        call = submit(client, function=DETECTOR, task=task.id, cleanup=True)
        wait_for("the request did not get far", lambda: progress(client, call.id) >= 40)
    store = TaskStore(tmp_path / "data")
    stopped = store.request(call.id)
    store.close()
    assert stopped is not None and stopped["status"] == "queued" and stopped["resumes"] == 0
    with make_stack().running(120) as stack, make_client(stack.gateway_url, credentials=("admin", "admin")) as client:
        done = wait_request(client, call.id, timeout_s=60)
        assert done.status == "finished" and done.progress == 100, done.exc_info
        assert_every_frame_once(client.tasks.retrieve(task.id))


def test_a_request_whose_runner_keeps_dying_fails_saying_so(tmp_path: Path) -> None:
    """The resumes are bounded: a request that kills what runs it (a frame that runs out of memory,
    say) is resumed MAX_RESUMES times, then failed with an ``exc_info`` that says why."""
    store = TaskStore(tmp_path)
    try:
        task = store.create_task("t", [{"name": "car"}])
        store.add_request("doomed", {"function": DETECTOR, "task": task["id"]})
        store.update_request("doomed", status="started", resumes=MAX_RESUMES)
        queue = InProcessQueue(lambda: None, store)  # type: ignore[arg-type, return-value]
        try:
            call = queue.get("doomed")
        finally:
            queue.close()
        assert call["status"] == "failed" and call["ended"]
        assert f"resumed {MAX_RESUMES} times" in call["exc_info"] and "not resumed again" in call["exc_info"]
    finally:
        store.close()


def test_ended_requests_expire_as_cvat_rq_jobs_do(tmp_path: Path) -> None:
    """Kept requests do not pile up: finished ones go after 30 min, failed ones after 3 h (CVAT's TTLs)."""
    store = TaskStore(tmp_path)
    try:
        task = store.create_task("t", [{"name": "car"}])
        params = {"function": DETECTOR, "task": task["id"]}
        store.add_request("finished-long-ago", params)
        store.update_request("finished-long-ago", status="finished", ended="2000-01-01T00:00:00.000000Z")
        assert store.request("finished-long-ago") is None and store.requests() == []
        store.add_request("failed-an-hour-ago", params)
        hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        store.update_request("failed-an-hour-ago", status="failed", ended=hour_ago)
        assert [request["id"] for request in store.requests()] == ["failed-an-hour-ago"]
    finally:
        store.close()


def test_a_killed_platform_in_rq_mode_leaves_no_worker_behind_and_its_request_resumes(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """The rq worker ends with its platform (SIGKILL, not a warm shutdown that would run the job on
    against a gone dashboard); the next platform finds the job of that dead worker and resumes it."""
    data_dir, ports = tmp_path / "data", (free_port(), free_port())
    gateway = f"http://127.0.0.1:{ports[1]}"
    with (
        platform(data_dir, *ports, redis_url=redis_server.url) as first,
        make_client(gateway, credentials=("admin", "admin")) as client,
    ):
        task = create_task(client, tmp_path / "t", [noise(i) for i in range(FRAMES)], LABELS)
        call = submit(client, function=DETECTOR, task=task.id, cleanup=True)
        wait_for("the request did not get far", lambda: progress(client, call.id) >= 40)
        kill_and_see_its_children_end(first)
    assert saved_frames(data_dir, call.id) >= 2 * SAVE_EVERY
    with (
        platform(data_dir, *ports, redis_url=redis_server.url),
        make_client(gateway, credentials=("admin", "admin")) as client,
    ):
        done = wait_request(client, call.id, timeout_s=60)
        assert done.id == call.id and done.status == "finished" and done.progress == 100, done.exc_info
        assert_every_frame_once(client.tasks.retrieve(task.id))
