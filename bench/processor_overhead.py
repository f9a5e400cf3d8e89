"""Processor overhead: the same function called in-process and over HTTP, side by side in one run.

    .venv/bin/python bench/processor_overhead.py [--function DIR] [--calls 50]

Prints p50/p95 per transport and the milliseconds the HTTP processor adds at p50 (target ≤ 2 ms).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import statistics
import time
from pathlib import Path

import httpx
from PIL import Image

from cvat_serverless.processor import start_processor
from cvat_serverless.runtime import LoadedFunction

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FUNCTION = ROOT / "serverless/pytorch/timesler/mtcnn/nuclio"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function", type=Path, default=DEFAULT_FUNCTION)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    body = json.dumps({"image": base64.b64encode(one_megapixel_jpeg()).decode()}).encode()

    local = LoadedFunction.load(args.function)
    timings: dict[str, list[float]] = {"in-process": [], "http": []}
    with start_processor(args.function, num_workers=1) as processor, httpx.Client(timeout=120) as client:
        for _ in range(3):  # warm-up both paths
            local.invoke(body)
            client.post(processor.url, content=body, headers={"Content-Type": "application/json"})
        for _ in range(args.calls):  # interleaved, so load changes hit both alike
            start = time.perf_counter()
            assert local.invoke(body).status_code == 200
            timings["in-process"].append(time.perf_counter() - start)
            start = time.perf_counter()
            response = client.post(processor.url, content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 200
            timings["http"].append(time.perf_counter() - start)
    local.close()
    rows = {name: percentiles(samples) for name, samples in timings.items()}
    print(f"function: {args.function}  body: {len(body) / 1e6:.2f} MB  calls: {args.calls}\n")
    print("| transport | p50 ms | p95 ms |\n|---|---|---|")
    for name, (p50, p95) in rows.items():
        print(f"| {name} | {p50:.1f} | {p95:.1f} |")
    print(f"\nadded by the processor at p50: {rows['http'][0] - rows['in-process'][0]:.2f} ms")


if __name__ == "__main__":
    main()
