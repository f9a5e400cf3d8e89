"""Processor overhead: the same function called in-process and over HTTP, side by side in one run.

    .venv/bin/python bench/processor_overhead.py [--function DIR] [--calls 100] [--against CHECKOUT]

Prints p50/p95 per transport and the milliseconds the HTTP processor adds at p50 (target ≤ 2 ms),
for the function and for a no-op handler given the same body (the transport alone, without
the model's run-to-run noise). ``--against`` adds the no-op handler on the processor of another
checkout (``git worktree add /tmp/old <commit>``), calls alternated with this one's in the same run.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

from cvat_serverless.processor import free_port, start_processor
from cvat_serverless.runtime import LoadedFunction

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FUNCTION = ROOT / "serverless/pytorch/timesler/mtcnn/nuclio"
ECHO = ROOT / "tests/fixtures/functions/echo"


def one_megapixel_jpeg() -> bytes:
    """skimage's astronaut resized to 1152×896 (≈1 MP), as a JPEG."""
    from skimage import data

    image = Image.fromarray(data.astronaut()).resize((1152, 896))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds."""
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[round(0.95 * (len(ordered) - 1))] * 1000


def measure(function: Path, body: bytes, calls: int) -> dict[str, tuple[float, float]]:
    """(p50, p95) per transport, calls interleaved so load changes hit both alike."""
    local = LoadedFunction.load(function)
    timings: dict[str, list[float]] = {"in-process": [], "http": []}
    headers = {"Content-Type": "application/json"}
    with start_processor(function, num_workers=1) as processor, httpx.Client(timeout=120) as client:
        for _ in range(3):
            local.invoke(body)
            client.post(processor.url, content=body, headers=headers)
        for _ in range(calls):
            start = time.perf_counter()
            assert local.invoke(body).status_code == 200
            timings["in-process"].append(time.perf_counter() - start)
            start = time.perf_counter()
            assert client.post(processor.url, content=body, headers=headers).status_code == 200
            timings["http"].append(time.perf_counter() - start)
    local.close()
    return {name: percentiles(samples) for name, samples in timings.items()}


NULL_MAIN = """\
def handler(context, event):
    return context.Response(body='[]', content_type="application/json", status_code=200)
"""


def null_function(workdir: Path) -> Path:
    """A detector-shaped function that answers ``[]`` at once: the transport alone."""
    target = workdir / "null"
    target.mkdir()
    shutil.copy(ECHO / "function.yaml", target / "function.yaml")
    config = target / "function.yaml"
    config.write_text(
        config.read_text()
        .replace("maxRequestBodySize: 65536", "maxRequestBodySize: 33554432")
        .replace("workerAvailabilityTimeoutMilliseconds: 300", "workerAvailabilityTimeoutMilliseconds: 10000")
    )
    (target / "main.py").write_text(NULL_MAIN)
    return target


def against(function: Path, body: bytes, calls: int, checkout: Path) -> dict[str, tuple[float, float]]:
    """(p50, p95) of this checkout's processor and ``checkout``'s, the same no-op function, calls alternated."""
    tree = checkout.resolve()
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree / 'serverless'}"}
    port = free_port()
    command = [sys.executable, "-m", "cvat_serverless.processor", str(function), "--port", str(port)]
    other = subprocess.Popen([*command, "--workers", "1"], env=env, stderr=subprocess.DEVNULL)
    urls = {"this checkout": "", f"{checkout}": f"http://127.0.0.1:{port}"}
    timings: dict[str, list[float]] = {name: [] for name in urls}
    headers = {"Content-Type": "application/json"}
    try:
        with start_processor(function, num_workers=1) as processor, httpx.Client(timeout=120) as client:
            urls["this checkout"] = processor.url
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not _ready(client, urls[f"{checkout}"]):
                time.sleep(0.2)
            for _ in range(3):
                for url in urls.values():
                    client.post(url, content=body, headers=headers)
            for call in range(calls):
                for name in sorted(urls, reverse=call % 2 == 1):
                    start = time.perf_counter()
                    assert client.post(urls[name], content=body, headers=headers).status_code == 200
                    timings[name].append(time.perf_counter() - start)
    finally:
        other.terminate()
        other.wait(30)
    return {name: percentiles(samples) for name, samples in timings.items()}


def _ready(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(f"{url}/__internal/ready").status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function", type=Path, default=DEFAULT_FUNCTION)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--against", type=Path, help="another checkout whose processor to time in the same run")
    args = parser.parse_args()
    body = json.dumps({"image": base64.b64encode(one_megapixel_jpeg()).decode()}).encode()
    with tempfile.TemporaryDirectory() as workdir:
        null = null_function(Path(workdir))
        runs = {
            str(args.function): measure(args.function, body, args.calls),
            "no-op handler (transport only)": measure(null, body, args.calls),
        }
        compared = against(null, body, args.calls, args.against) if args.against else {}
    print(f"body: {len(body) / 1e6:.2f} MB, calls: {args.calls} per transport\n")
    print("| function | in-process p50 / p95 ms | HTTP p50 / p95 ms | added at p50 ms |\n|---|---|---|---|")
    for name, rows in runs.items():
        (lp50, lp95), (hp50, hp95) = rows["in-process"], rows["http"]
        print(f"| {name} | {lp50:.1f} / {lp95:.1f} | {hp50:.1f} / {hp95:.1f} | {hp50 - lp50:.2f} |")
    if compared:
        print("\nNo-op handler, two processors, calls alternated:\n\n| processor | HTTP p50 / p95 ms |\n|---|---|")
        for name, (p50, p95) in compared.items():
            print(f"| {name} | {p50:.2f} / {p95:.2f} |")


if __name__ == "__main__":
    main()
