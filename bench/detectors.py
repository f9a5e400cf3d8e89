"""Detector costs: cold start, p50/p95 latency on 640×480, and handler time ÷ raw model time.

    .venv/bin/python bench/detectors.py [--calls 5] [--only SUBSTRING]

Torchvision models use random weights of the full architecture at their default input size
(the same cost as the published weights); MTCNN, PP-OCR and YOLO use their real bundled weights.
Handler time is a full in-process invoke (JSON body, base64 and image decoding, validation, the
model, output checks and encoding); raw time is the model handler's own ``infer`` on the already
decoded request, i.e. the model with its model-specific pre/post-processing. The ratio is what the
framework adds. Target: handler ÷ raw ≤ 1.10.
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from cvat_serverless.harness.discovery import load_cases
from cvat_serverless.runtime import LoadedFunction

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = (
    "pytorch/timesler/mtcnn",
    "onnx/paddlepaddle/ppocr-v4-det",
    "onnx/ultralytics/yolo",
    "pytorch/torchvision/faster_rcnn",
    "pytorch/torchvision/retinanet",
    "pytorch/torchvision/mask_rcnn",
    "pytorch/torchvision/keypoint_rcnn",
)


def _environment(folder: Path, workdir: Path) -> dict[str, str]:
    prepare = getattr(load_cases(folder), "environment", None)
    env = dict(prepare(workdir)) if prepare else {}
    env.pop("TORCHVISION_MIN_SIZE", None)  # benchmark at the published input size
    env.pop("TORCHVISION_MAX_SIZE", None)
    return env


def measure(folder: Path, body: dict[str, Any], calls: int, workdir: Path) -> tuple[float, float, float, float]:
    """(cold start s, p50 ms, p95 ms, handler ÷ raw)."""
    from common.detector import parse_request

    env = _environment(folder, workdir)
    start = time.perf_counter()
    function = LoadedFunction.load(folder, env=env)
    cold = time.perf_counter() - start
    model = function.context.user_data.model
    request = parse_request(body, default_threshold=model.default_threshold)

    def raw() -> Any:
        return model.infer(request)

    function.invoke(body)
    raw()
    handler_times, raw_times = [], []
    for _ in range(calls):
        start = time.perf_counter()
        assert function.invoke(body).status_code == 200
        handler_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        raw()
        raw_times.append(time.perf_counter() - start)
    function.close()
    ordered = sorted(handler_times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        cold,
        statistics.median(ordered) * 1000,
        p95 * 1000,
        statistics.median(handler_times) / statistics.median(raw_times),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((640, 480)).save(buffer, format="JPEG", quality=90)
    body = {"image": base64.b64encode(buffer.getvalue()).decode(), "threshold": 0.5}
    print("| function | cold start s | p50 ms | p95 ms | handler ÷ raw |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as workdir:
        for name in FOLDERS:
            if args.only in name:
                cold, p50, p95, ratio = measure(ROOT / "serverless" / name / "nuclio", body, args.calls, Path(workdir))
                print(f"| {name} | {cold:.1f} | {p50:.0f} | {p95:.0f} | {ratio:.3f} |", flush=True)


if __name__ == "__main__":
    main()
