"""What each layer of the stack adds to one online call, side by side in one run (issue 14's table).

    .venv/bin/python bench/stack_latency.py [--function DIR] [--rounds 60]
    CVAT_HOST=http://... CVAT_USER=... CVAT_PASSWORD=... .venv/bin/python bench/stack_latency.py   # + a real CVAT

One LocalStack (processor, dashboard, gateway) serves the function; a task holds the same 1 MP JPEG
(skimage's astronaut at 1152×896). Each round calls, interleaved so load changes hit all alike:
the processor directly, the dashboard's ``/api/function_invocations``, the gateway's online call
(``POST /api/lambda/functions/{id}`` with task + frame, as CVAT's UI sends it) and, with CVAT_HOST,
the same online call on a real CVAT whose Nuclio settings point at this stack's dashboard (start the
stack with ``cvat-serverless platform`` and configure CVAT first; see docs/local-stack.md). Also
timed: the dashboard's function GET, which CVAT and the gateway make on every online call.
Prints p50/p95 per path and what each adds at p50 over the direct processor call.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FUNCTION = ROOT / "serverless/pytorch/timesler/mtcnn/nuclio"
sys.path.insert(0, str(ROOT / "bench"))

from processor_overhead import one_megapixel_jpeg, percentiles  # noqa: E402

from common.labels import load_function_config  # noqa: E402
from cvat_serverless.harness.lambda_transport import task_labels  # noqa: E402
from cvat_serverless.stack import LocalStack  # noqa: E402

CVAT_HEADERS = {"x-nuclio-project-name": "cvat", "x-nuclio-invoke-via": "domain-name"}


def make_task(host: str, auth: tuple[str, str], image: Path, labels: list[dict]) -> int:
    from cvat_sdk import make_client

    with make_client(host, credentials=auth) as client:
        task = client.tasks.create_from_data(spec={"name": "latency bench", "labels": labels}, resources=[str(image)])
        return int(task.id)


def timed(call: Callable[[], httpx.Response]) -> float:
    start = time.perf_counter()
    answer = call()
    elapsed = time.perf_counter() - start
    assert answer.status_code == 200, answer.text[:300]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function", type=Path, default=DEFAULT_FUNCTION)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    config = load_function_config(args.function)
    jpeg = one_megapixel_jpeg()
    body = {"image": base64.b64encode(jpeg).decode()}
    with tempfile.TemporaryDirectory() as workdir:
        image = Path(workdir) / "astronaut.jpg"
        image.write_bytes(jpeg)
        stack = LocalStack(folders=[args.function], data_dir=Path(workdir) / "data", num_workers=1)
        assert stack.start(600) == {}
        try:
            assert stack.registry is not None
            port = stack.registry.functions[config.name].config()["status"]["httpPort"]
            task = make_task(stack.gateway_url, ("admin", "admin"), image, task_labels(config.labels))
            paths: dict[str, Callable[[httpx.Client], httpx.Response]] = {
                "processor (direct)": lambda c: c.post(f"http://127.0.0.1:{port}/", json=body),
                "dashboard invocation": lambda c: c.post(
                    f"{stack.dashboard_url}/api/function_invocations",
                    json=body,
                    headers={**CVAT_HEADERS, "x-nuclio-function-name": config.name},
                ),
                "gateway online call": lambda c: c.post(
                    f"{stack.gateway_url}/api/lambda/functions/{config.name}",
                    json={"task": task, "frame": 0},
                    auth=("admin", "admin"),
                ),
                "dashboard function GET": lambda c: c.get(
                    f"{stack.dashboard_url}/api/functions/{config.name}", headers=CVAT_HEADERS
                ),
            }
            if os.environ.get("CVAT_HOST"):
                cvat, auth = os.environ["CVAT_HOST"], (os.environ["CVAT_USER"], os.environ["CVAT_PASSWORD"])
                cvat_task = make_task(cvat, auth, image, task_labels(config.labels))
                paths["real CVAT online call"] = lambda c: c.post(
                    f"{cvat}/api/lambda/functions/{config.name}", json={"task": cvat_task, "frame": 0}, auth=auth
                )
            samples: dict[str, list[float]] = {name: [] for name in paths}
            with httpx.Client(timeout=300) as client:
                for _ in range(3):  # warm-up: connections, caches, the model's first call
                    for call in paths.values():
                        timed(lambda call=call: call(client))
                for _ in range(args.rounds):
                    for name, call in paths.items():
                        samples[name].append(timed(lambda call=call: call(client)))
        finally:
            stack.stop()
    stats = {name: percentiles(values) for name, values in samples.items()}
    direct = stats["processor (direct)"][0]
    print(f"{config.name}, 1152×896 JPEG ({len(jpeg) / 1e3:.0f} KB), {args.rounds} interleaved rounds\n")
    print("| path | p50 ms | p95 ms | added over the direct call at p50 |\n|---|---|---|---|")
    for name, (p50, p95) in stats.items():
        added = "" if name in ("processor (direct)", "dashboard function GET") else f"{p50 - direct:+.1f} ms"
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {added} |")
    print(f"\nmedian of all direct calls: {statistics.median(samples['processor (direct)']) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
