"""Metrics on the processor, dashboard and gateway (scraped), and a request id from the gateway to the function."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import numpy as np
import pytest
from cvat_sdk import make_client
from gateway_support import FIXTURES, create_task

from cvat_serverless.stack import LocalStack

DETECTOR = "test-lambda-detector"


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of ``name{labels...}`` in a Prometheus text exposition (labels in any order), or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name) : line.rindex("}") + 1]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_are_scraped_and_a_request_id_follows_the_call(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    stack = LocalStack(
        folders=[FIXTURES / "lambda_detector", FIXTURES / "echo"],
        data_dir=tmp_path / "data",
        num_workers=1,
        invoke_method="dashboard",  # gateway → dashboard → processor, as CVAT on Kubernetes
    )
    assert stack.start(120) == {}
    try:
        with make_client(stack.gateway_url, credentials=("admin", "admin")) as client:
            task = create_task(client, tmp_path, [np.zeros((40, 60, 3), np.uint8)], [{"name": "car"}])
        call = f"{stack.gateway_url}/api/lambda/functions/{DETECTOR}"
        answer = httpx.post(
            call, json={"task": task.id, "frame": 0}, auth=("admin", "admin"), headers={"X-Request-ID": "trace-4711"}
        )
        assert answer.status_code == 200 and answer.headers["x-request-id"] == "trace-4711"
        made = httpx.get(f"{stack.gateway_url}/api/server/about")
        assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])  # one is made when none is sent
        assert stack.registry is not None
        echo_port = stack.registry.functions["test-echo"].config()["status"]["httpPort"]
        echoed = httpx.post(
            f"{stack.dashboard_url}/api/function_invocations",
            json={"a": 1},
            headers={"x-nuclio-function-name": "test-echo", "X-Request-ID": "trace-echo"},
        )
        assert echoed.json()["request_id"] == "trace-echo"  # the function itself sees it
        assert httpx.post(f"http://127.0.0.1:{echo_port}/", json={}).json()["request_id"]  # direct: made there

        gateway = httpx.get(f"{stack.gateway_url}/metrics").text  # no login needed to scrape
        route = "/api/lambda/functions/{func_id}"
        assert sample(gateway, "cvat_serverless_requests_total", component="gateway", route=route,
                      function=DETECTOR, kind="detector", status="200") == 1  # fmt: skip
        assert sample(gateway, "cvat_serverless_request_seconds_count", component="gateway", route=route) == 1
        assert sample(gateway, "cvat_serverless_lambda_requests", status="queued") == 0
        dashboard = httpx.get(f"{stack.dashboard_url}/metrics").text
        invocations = "/api/function_invocations"
        assert sample(dashboard, "cvat_serverless_requests_total", component="dashboard",
                      route=invocations, function=DETECTOR, kind="detector", status="200") == 1  # fmt: skip
        assert sample(dashboard, "cvat_serverless_processor_restarts", function=DETECTOR) == 0
        port = stack.registry.functions[DETECTOR].config()["status"]["httpPort"]
        processor = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert sample(processor, "cvat_serverless_requests_total", component="processor", route="/{path:path}",
                      function=DETECTOR, kind="detector", status="200") == 1  # fmt: skip
        assert sample(processor, "cvat_serverless_worker_restarts", function=DETECTOR) == 0
        assert sample(processor, "cvat_serverless_workers", function=DETECTOR, state="ready") == 1
    finally:
        stack.stop()
    logged = capfd.readouterr().err
    assert "(request trace-4711)" in logged  # the processor's line for the gateway's call
