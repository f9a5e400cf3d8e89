"""``/api/lambda/requests`` on RQ: a real redis-server on loopback and ``rq worker`` subprocesses."""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from cvat_sdk import Client, make_client
from cvat_sdk.api_client import exceptions
from gateway_support import FIXTURES, create_task, noise, submit, wait_request

from cvat_serverless.harness.redis_server import RedisServer
from cvat_serverless.stack import LocalStack

DETECTOR = "test-lambda-detector"
LABELS = [{"name": "car"}, {"name": "person"}, {"name": "weather", "type": "tag"}]


@pytest.fixture(scope="module")
def client(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    stack = LocalStack(
        folders=[FIXTURES / "lambda_detector", FIXTURES / "raising"],
        data_dir=tmp_path_factory.mktemp("rq") / "data",
        env={"FIXTURE_SLEEP": "0.05"},
        redis_url=redis_server.url,
    )
    with stack.running(120), make_client(stack.gateway_url, credentials=("admin", "admin")) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def task(client: Client, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return create_task(client, tmp_path_factory.mktemp("frames"), [noise(i) for i in range(20)], LABELS)


def test_rq_whole_task_request(client: Client, task: Any, redis_server: RedisServer) -> None:
    call = submit(client, function=DETECTOR, task=task.id, cleanup=True)
    assert call.status == "queued"
    with pytest.raises(exceptions.ApiException) as conflict:
        submit(client, function=DETECTOR, task=task.id)
    assert conflict.value.status == 409
    done = wait_request(client, call.id)
    assert done.status == "finished" and done.progress == 100 and done.started and done.ended
    annotations = task.get_annotations()
    assert len(annotations.shapes) == 20 * 2 and len(annotations.tags) == 20
    # the job's arguments are stored as JSON, never pickled
    stored = redis_server.client().hget(f"rq:job:{call.id}", "data")
    assert json.loads(zlib.decompress(stored))[2][0]["function"] == DETECTOR
    listed, _ = client.api_client.lambda_api.list_requests()
    assert call.id in [item.id for item in listed]


def test_rq_cancel_keeps_partial_results(client: Client, task: Any) -> None:
    call = submit(client, function=DETECTOR, task=task.id, cleanup=True)
    deadline = time.monotonic() + 30
    while client.api_client.lambda_api.retrieve_requests(call.id)[0].progress < 10:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    client.api_client.lambda_api.delete_requests(call.id)
    with pytest.raises(exceptions.NotFoundException):
        client.api_client.lambda_api.retrieve_requests(call.id)
    time.sleep(1.5)
    frames = {shape.frame for shape in task.get_annotations().shapes}
    assert 2 <= len(frames) < 20
    again = wait_request(client, submit(client, function=DETECTOR, task=task.id, cleanup=True).id)
    assert again.status == "finished"


def test_rq_failed_job_reports_its_error(client: Client, task: Any) -> None:
    call = submit(client, function="test-raising", task=task.id)
    done = wait_request(client, call.id)
    assert done.status == "failed" and "the handler broke" in done.exc_info
    listed, _ = client.api_client.lambda_api.list_requests()
    assert call.id not in [item.id for item in listed]


def test_rq_delete_running_request_frees_the_task(client: Client, task: Any) -> None:
    """CVAT deletes the RQ job: GET is a 404 and the next request for the task is accepted right away."""
    first = submit(client, function=DETECTOR, task=task.id)
    deadline = time.monotonic() + 30
    while client.api_client.lambda_api.retrieve_requests(first.id)[0].status != "started":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    client.api_client.lambda_api.delete_requests(first.id)
    second = submit(client, function=DETECTOR, task=task.id, cleanup=True)  # no 409 while the first winds down
    assert second.id != first.id
    with pytest.raises(exceptions.NotFoundException):
        client.api_client.lambda_api.retrieve_requests(first.id)
    done = wait_request(client, second.id)
    assert done.status == "finished" and done.progress == 100
    time.sleep(0.5)  # long enough for the first job to have stopped and been saved by its worker
    with pytest.raises(exceptions.NotFoundException):
        client.api_client.lambda_api.retrieve_requests(first.id)
    assert wait_request(client, second.id).status == "finished"


def test_zz_requests_run_again_after_redis_restarts(client: Client, task: Any, redis_server: RedisServer) -> None:
    """Stop Redis, start it again: the rq workers that exited are restarted and a new request finishes.

    (Named to run last: it restarts the module's Redis.)"""
    redis_server.stop()
    time.sleep(3)  # the workers notice and exit
    redis_server.start()
    call = submit(client, function=DETECTOR, task=task.id, cleanup=True)
    done = wait_request(client, call.id, timeout_s=90)
    assert done.status == "finished", done
