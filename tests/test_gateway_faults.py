"""Whole-task requests under faults: a processor killed mid-request, a frame that always fails (issue 13)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cvat_sdk import Client, make_client
from gateway_support import FIXTURES, create_task, submit, wait_request

from cvat_serverless.stack import LocalStack

DETECTOR = "test-lambda-detector"
LABELS = [{"name": "car"}, {"name": "person"}, {"name": "weather", "type": "tag"}]
FAIL_WIDTH = 61  # the fixture answers 500 for every frame this wide


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(
        folders=[FIXTURES / "lambda_detector"],
        data_dir=tmp_path_factory.mktemp("faults") / "data",
        env={"FIXTURE_SLEEP": "0.1", "FIXTURE_FAIL_WIDTH": str(FAIL_WIDTH)},
        num_workers=1,
    ).running(120) as local:
        yield local


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> Iterator[Client]:
    with make_client(stack.gateway_url, credentials=("admin", "admin")) as sdk:
        yield sdk


def frames(count: int, failing: int | None = None) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [
        rng.integers(0, 255, (40, FAIL_WIDTH if index == failing else 64, 3), dtype=np.uint8) for index in range(count)
    ]


def shapes_per_frame(task: Any) -> dict[int, int]:
    counted: dict[int, int] = {}
    for shape in task.get_annotations().shapes:
        counted[shape.frame] = counted.get(shape.frame, 0) + 1
    return counted


def test_a_processor_killed_mid_request_loses_no_frame(client: Client, stack: LocalStack, tmp_path: Path) -> None:
    """It used to fail the request with 0 frames saved; now the frame is retried once the processor is back."""
    task = create_task(client, tmp_path, frames(40), LABELS)
    call = submit(client, function=DETECTOR, task=task.id, cleanup=True)
    deadline = time.monotonic() + 30
    while client.api_client.lambda_api.retrieve_requests(call.id)[0].progress < 20:
        assert time.monotonic() < deadline, "the request did not start"
        time.sleep(0.05)
    assert stack.registry is not None
    managed = stack.registry.functions[DETECTOR]
    assert managed.handle is not None
    managed.handle.process.kill()  # the platform's supervision restarts it on a new port
    done = wait_request(client, call.id, timeout_s=120)
    assert done.status == "finished", done.exc_info
    assert managed.restarts >= 1
    counted = shapes_per_frame(task)
    assert sorted(counted) == list(range(40)) and set(counted.values()) == {2}, counted  # car + person


def test_a_frame_that_keeps_failing_ends_the_request_and_keeps_the_frames_before_it(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CVAT_GATEWAY_FRAME_ATTEMPTS", "2")  # the gateway runs in this process
    task = create_task(client, tmp_path, frames(12, failing=7), LABELS)
    failing = next(i for i, meta in enumerate(task.get_meta().frames) if meta.width == FAIL_WIDTH)
    assert failing > 0
    call = submit(client, function=DETECTOR, task=task.id)
    done = wait_request(client, call.id, timeout_s=120)
    assert done.status == "failed"
    assert f"frame {failing} failed after 2 attempt(s)" in done.exc_info
    assert f"frames up to {failing - 1} are saved" in done.exc_info
    assert sorted(shapes_per_frame(task)) == list(range(failing))
