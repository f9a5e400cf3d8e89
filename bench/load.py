"""Bounded loopback load on a real local stack: K concurrent clients per path; latency, errors, memory, fds.

    .venv/bin/python bench/load.py [--function DIR] [--levels 1,8,32,64] [--seconds 8] [--sequential 300]
                                   [--tasks 4] [--frames 20] [--availability-ms MS] [--size 640x480]

``cvat-serverless platform`` runs in its own process (as a user runs it), serving one function folder
(default: MTCNN, real weights, the yaml's 2 workers). A task holds one JPEG (skimage's astronaut). For
each level K, K clients (one connection each) call back to back for ``--seconds`` on each path in
turn: the processor directly, the dashboard's ``/api/function_invocations``, and the gateway's online
call (``POST /api/lambda/functions/{id}`` with task + frame and a ``Token`` key, as CVAT's UI sends it).
Then ``--sequential`` gateway calls one after another (memory growth), ``--tasks`` whole-task requests
submitted at once, and one normal call per path.

Reported: per path and level the answered requests per second, p50/p95/p99 latency of the 200s and
every other answer by status (a transport error, i.e. a reset or refused connection, counts as
``reset``); the RSS and open fds of the platform process, each processor and each worker before the
load, at peak and after; the 5xx each server counted itself (``/metrics``); worker and processor
restarts. ``--availability-ms`` runs a copy of the function with a shorter
``workerAvailabilityTimeoutMilliseconds``, to see overload answered (503) rather than queued.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from cvat_serverless.harness.load import (
    Outcome,
    PeakSampler,
    Platform,
    ProcSample,
    copy_with_trigger,
    paths,
    run_clients,
    sample_tree,
    server_errors,
    total_kb,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FUNCTION = ROOT / "serverless/pytorch/timesler/mtcnn/nuclio"


def percentile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of sorted samples (nearest rank); NaN when there are none."""
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def row(path: str, clients: int, outcomes: list[Outcome], wall_s: float) -> str:
    """One markdown row: answered/s, p50/p95/p99 of the 200s in ms, other answers by status."""
    ok = sorted(o.seconds * 1000 for o in outcomes if o.status == 200)
    others = Counter("reset" if o.status == 0 else str(o.status) for o in outcomes if o.status != 200)
    bad = sum(1 for o in outcomes if o.problem)
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(others.items())) or "none"
    errors += f" ({bad} not JSON or reset)" if bad else ""
    p50, p95, p99 = (percentile(ok, q) for q in (0.5, 0.95, 0.99))
    latency = f"{p50:.0f} | {p95:.0f} | {p99:.0f}"
    return f"| {path} | {clients} | {len(outcomes)} | {len(ok) / wall_s:.1f} | {latency} | {errors} |"


def jpeg(size: tuple[int, int]) -> bytes:
    """skimage's astronaut resized to ``size``, as a JPEG."""
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).resize(size).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def make_task(gateway: str, name: str, files: list[Path], labels: list[dict[str, Any]]) -> int:
    """A task with ``files`` as its frames, created through cvat-sdk as a CVAT user would."""
    from cvat_sdk import make_client

    with make_client(gateway, credentials=("admin", "admin")) as client:
        task = client.tasks.create_from_data(spec={"name": name, "labels": labels}, resources=[str(f) for f in files])
        return int(task.id)


def memory_table(
    before: Mapping[int, ProcSample], peak: Mapping[int, ProcSample], after: Mapping[int, ProcSample]
) -> Iterator[str]:
    """Markdown rows: each process's RSS and open fds before, at peak and after (new processes marked)."""
    yield "| process | RSS before MB | peak MB | after MB | fds before / peak / after |"
    yield "|---|---|---|---|---|"
    for pid, first in sorted(before.items(), key=lambda item: (item[1].role, item[0])):
        top, last = peak.get(pid, first), after.get(pid)
        end = f"{last.rss_kb / 1024:.0f}" if last else "gone"
        fds = f"{first.fds} / {top.fds} / {last.fds if last else '-'}"
        yield f"| {first.role} {pid} | {first.rss_kb / 1024:.0f} | {top.rss_kb / 1024:.0f} | {end} | {fds} |"
    for pid, new in after.items():
        if pid not in before:
            yield f"| {new.role} {pid} (new) | - | - | {new.rss_kb / 1024:.0f} | - / - / {new.fds} |"


def whole_tasks(platform: Platform, function: str, tasks: list[int], frames: int, token: str) -> str:
    """Submit one whole-task request per task at once; wait for all; frames/s over all of them."""
    auth = {"Authorization": f"Token {token}"}
    started = time.perf_counter()
    ids = []
    for task in tasks:
        answer = httpx.post(
            f"{platform.gateway}/api/lambda/requests",
            json={"function": function, "task": task, "cleanup": True},
            headers=auth,
            timeout=60,
        )
        answer.raise_for_status()
        ids.append(answer.json()["id"])
    states: dict[str, str] = {}
    deadline = time.monotonic() + 600
    while len(states) < len(ids) and time.monotonic() < deadline:
        for rq_id in ids:
            call = httpx.get(f"{platform.gateway}/api/lambda/requests/{rq_id}", headers=auth, timeout=60).json()
            if call["status"] in ("finished", "failed"):
                states.setdefault(rq_id, call["status"])
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    rate = len(tasks) * frames / elapsed
    return f"{len(tasks)} requests: {dict(Counter(states.values()))} in {elapsed:.1f} s ({rate:.1f} frames/s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--function", type=Path, default=DEFAULT_FUNCTION)
    parser.add_argument("--levels", default="1,8,32,64", help="concurrent clients per level")
    parser.add_argument("--seconds", type=float, default=8.0, help="per level and path")
    parser.add_argument("--sequential", type=int, default=300, help="gateway calls one after another")
    parser.add_argument("--tasks", type=int, default=4, help="whole-task requests submitted at once")
    parser.add_argument("--frames", type=int, default=20, help="frames per task of those requests")
    parser.add_argument("--availability-ms", type=int, default=0, help="override workerAvailabilityTimeout")
    parser.add_argument("--size", default="640x480", help="the JPEG's size")
    args = parser.parse_args()
    from common.labels import load_function_config
    from cvat_serverless.harness.lambda_transport import task_labels

    config = load_function_config(args.function)
    width, height = (int(v) for v in args.size.split("x"))
    image = jpeg((width, height))
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    folder = args.function
    if args.availability_ms:
        folder = copy_with_trigger(folder, workdir / "fn", workerAvailabilityTimeoutMilliseconds=args.availability_ms)
    (workdir / "one").mkdir()
    (workdir / "one" / "astronaut.jpg").write_bytes(image)
    platform = Platform(folders=[folder], data_dir=workdir / "data").start()
    try:
        report(args, platform, config, image, workdir, task_labels(config.labels))
    finally:
        platform.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def report(args: argparse.Namespace, platform: Platform, config: Any, image: bytes, workdir: Path, labels: Any) -> None:
    """Run the levels, the sequential calls and the whole-task requests on a started platform; print the tables."""
    sys.path.insert(0, str(ROOT / "bench"))
    from gateway_requests import make_frames

    token, port = platform.token(), platform.function_port(config.name)
    task = make_task(platform.gateway, "load", [workdir / "one" / "astronaut.jpg"], labels)
    sends = paths(platform, config.name, port, task, token, image)
    for send in sends.values():  # warm-up: connections, caches, the model's first call on each worker
        asyncio.run(run_clients(send, 2, requests=3))
    before = sample_tree(platform.pid)
    lines = [
        "| path | clients | requests | ok/s | p50 ms | p95 ms | p99 ms | other answers |",
        "|---|---|---|---|---|---|---|---|",
    ]
    with PeakSampler(platform.pid) as sampler:
        for clients in (int(v) for v in args.levels.split(",")):
            for name, send in sends.items():
                started = time.perf_counter()
                outcomes = asyncio.run(run_clients(send, clients, seconds=args.seconds))
                lines.append(row(name, clients, outcomes, time.perf_counter() - started))
                print(lines[-1], flush=True)
    loaded = sample_tree(platform.pid)
    gateway = sends["gateway online call"]
    started = time.perf_counter()
    sequential = asyncio.run(run_clients(gateway, 1, requests=args.sequential))
    seq_s = time.perf_counter() - started
    after = sample_tree(platform.pid)
    time.sleep(7)  # idle keep-alive connections expire after 5 s on both sides
    settled = sample_tree(platform.pid)
    next_ok = {name: asyncio.run(run_clients(send, 1, requests=1))[0].status for name, send in sends.items()}
    tasks = [
        make_task(platform.gateway, f"load {i}", make_frames(workdir / f"t{i}", args.frames), labels)
        for i in range(args.tasks)
    ]
    whole = whole_tasks(platform, config.name, tasks, args.frames, token) if tasks else "skipped"
    w, h = args.size.split("x")
    print(f"\n{config.name}, {w}×{h} JPEG ({len(image) / 1e3:.0f} KB), {args.seconds:g} s per level and path\n")
    print("\n".join(lines))
    print("\nMemory and fds: before the load (after warm-up), peak during it, after it and the sequential calls\n")
    print("\n".join(memory_table(before, sampler.peak, settled)))
    roles = ("processor", "worker", "helper")
    statuses = dict(Counter(o.status for o in sequential))
    print(
        f"\n{args.sequential} sequential gateway calls ({seq_s:.1f} s, statuses {statuses}):"
        f" processor + workers {total_kb(loaded, roles) / 1024:.1f} → {total_kb(after, roles) / 1024:.1f} MB,"
        f" platform {total_kb(loaded, ('platform',)) / 1024:.1f} → {total_kb(after, ('platform',)) / 1024:.1f} MB"
    )
    fds_before, fds_after = (sum(s.fds for s in tree.values()) for tree in (before, settled))
    print(f"open fds, all processes: before {fds_before}, 7 s after {fds_after}")
    print(f"next call on each path: {next_ok}")
    print(f"whole-task requests ({args.frames} frames each, submitted at once): {whole}")
    print(f"5xx counted by the servers, restarts: {server_errors(platform, [port]) or 'none'}")


if __name__ == "__main__":
    main()
