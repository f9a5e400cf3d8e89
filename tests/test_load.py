"""Bounded loopback load on a real platform process (issue 13): overload, memory and fds.

``cvat-serverless platform`` runs in its own process with a copy of the scripted detector whose trigger
has 2 workers that wait at most 50 ms for a free worker (``workerAvailabilityTimeoutMilliseconds``; Nuclio
answers 503 past it) and whose handler sleeps 10 ms. 32 clients at once are far over that bound on every
path: the processor directly, the dashboard's function invocation and the gateway's online call (task +
frame, ``Token`` key). The task's frame is a 320×240 noise PNG (≈230 KB), so a layer that kept each
request's body would grow by ≈90 MB over the 300 sequential calls and fail the memory bound.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from cvat_sdk import make_client
from gateway_support import FIXTURES, write_images

from cvat_serverless.harness.load import (
    Outcome,
    Platform,
    ProcSample,
    Send,
    copy_with_trigger,
    paths,
    run_clients,
    sample_tree,
    server_errors,
    total_kb,
)

pytestmark = pytest.mark.slow

FUNCTION = "test-lambda-detector"
CLIENTS, REQUESTS_EACH = 32, 4
SEQUENTIAL = 300
WORKERS_GROWTH_KB = 8 * 1024
"""Processor + workers after 300 sequential calls, measured after a warm-up: −3.3 to +0.4 MB here."""
PLATFORM_GROWTH_KB = 8 * 1024
"""The platform process (dashboard + gateway): −2.3 to +0.2 MB here."""
FD_SLACK = 4
"""Keep-alive connections a warm client may hold; more open fds than the baseline plus these is a leak."""
STACK_ROLES = ("processor", "worker", "helper")


@dataclass
class Loaded:
    platform: Platform
    port: int
    sends: dict[str, Send]
    baseline: dict[int, ProcSample]


def fds(tree: dict[int, ProcSample]) -> int:
    return sum(sample.fds for sample in tree.values())


def run(send: Send, clients: int, requests: int) -> list[Outcome]:
    return asyncio.run(run_clients(send, clients, requests=requests))


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    work = tmp_path_factory.mktemp("load")
    folder = copy_with_trigger(
        FIXTURES / "lambda_detector", work / "fn", numWorkers=2, workerAvailabilityTimeoutMilliseconds=50
    )
    platform = Platform(folders=[folder], data_dir=work / "data", env={"FIXTURE_SLEEP": "0.01"}).start(120)
    try:
        frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
        files = write_images(work / "upload", [frame])
        with make_client(platform.gateway, credentials=("admin", "admin")) as client:
            spec = {"name": "load", "labels": [{"name": "car"}, {"name": "person"}]}
            task = client.tasks.create_from_data(spec=spec, resources=[str(f) for f in files])
        port = platform.function_port(FUNCTION)
        sends = paths(platform, FUNCTION, port, task.id, platform.token(), files[0].read_bytes())
        for send in sends.values():  # warm-up: connections, caches, both workers
            assert {o.status for o in run(send, 2, 25)} == {200}
        yield Loaded(platform, port, sends, sample_tree(platform.pid))
    finally:
        platform.stop()


def test_clients_over_the_bound_get_503_json_never_a_5xx_crash_or_a_reset(loaded: Loaded) -> None:
    statuses: Counter[int] = Counter()
    for name, send in loaded.sends.items():
        outcomes = run(send, CLIENTS, REQUESTS_EACH)
        assert len(outcomes) == CLIENTS * REQUESTS_EACH
        assert [o.problem for o in outcomes if o.problem] == [], name  # every answer a 200 or a JSON error
        answered = Counter(o.status for o in outcomes)
        assert set(answered) <= {200, 503} and answered[200] > 0, (name, answered)
        statuses += answered
    assert statuses[503] > 0, "the load never passed the bound: nothing was refused"
    counted = server_errors(loaded.platform, [loaded.port])
    assert set(counted) <= {"processor 503", "dashboard 503", "gateway 503"}, counted  # no 500, no restart
    for name, send in loaded.sends.items():  # the stack answers a normal request right after
        assert [o.status for o in run(send, 1, 1)] == [200], name


def test_sequential_calls_grow_no_memory_and_fds_return_to_the_baseline(loaded: Loaded) -> None:
    gateway = loaded.sends["gateway online call"]
    assert {o.status for o in run(gateway, 1, 50)} == {200}  # warm-up after whatever ran before
    before = sample_tree(loaded.platform.pid)
    assert {o.status for o in run(gateway, 1, SEQUENTIAL)} == {200}
    after = sample_tree(loaded.platform.pid)
    assert set(after) == set(before), "a process of the stack was restarted or replaced"
    grown = total_kb(after, STACK_ROLES) - total_kb(before, STACK_ROLES)
    assert grown < WORKERS_GROWTH_KB, f"processor + workers grew {grown} kB over {SEQUENTIAL} calls"
    grown = total_kb(after, ("platform",)) - total_kb(before, ("platform",))
    assert grown < PLATFORM_GROWTH_KB, f"the platform process grew {grown} kB over {SEQUENTIAL} calls"
    deadline = time.monotonic() + 15  # idle keep-alive connections close after 5 s on both sides
    while fds(now := sample_tree(loaded.platform.pid)) > fds(loaded.baseline) + FD_SLACK:
        assert time.monotonic() < deadline, f"open fds {fds(now)}, {fds(loaded.baseline)} before the load"
        time.sleep(0.5)
    assert [o.status for o in run(gateway, 1, 1)] == [200]
