"""Whole-task annotation through ``/api/lambda/requests`` vs a raw loop over the model, in one run.

    .venv/bin/python bench/gateway_requests.py [--frames 100] [--redis]

The same 100+ frames (crops of scikit-image photos, 320×240 PNG) are annotated twice with the real
MTCNN weights and one model worker each:

- raw: one process loads the model handler and, per frame, reads the PNG, decodes it and runs the
  model's own ``infer``;
- gateway: a task is created through cvat-sdk, a whole-task request runs on the request queue
  (in-process worker, or RQ on a real redis-server with ``--redis``), every frame goes gateway →
  dashboard → processor (1 worker) and the shapes are saved in SQLite; timed from the request's
  submission until ``finished``.

Reported: frames/s of both and the ratio gateway ÷ raw. Target ≥ 0.90.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from cvat_serverless.runtime import LoadedFunction

ROOT = Path(__file__).resolve().parents[1]
MTCNN = ROOT / "serverless/pytorch/timesler/mtcnn/nuclio"


def make_frames(folder: Path, count: int) -> list[Path]:
    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        image = sources[index % len(sources)]
        y, x = (index * 7) % (image.shape[0] - 240), (index * 11) % (image.shape[1] - 320)
        path = folder / f"frame{index:04d}.png"
        Image.fromarray(np.ascontiguousarray(image[y : y + 240, x : x + 320])).save(path)
        paths.append(path)
    return paths


def raw_loop(frames: list[Path]) -> float:
    """Frames per second of decode + ``infer`` in this process."""
    from common.detector import parse_request

    function = LoadedFunction.load(MTCNN)
    model = function.context.user_data.model
    try:
        import base64

        warm = {"image": base64.b64encode(frames[0].read_bytes()).decode()}
        model.infer(parse_request(warm, default_threshold=model.default_threshold))
        start = time.perf_counter()
        for path in frames:
            body = {"image": base64.b64encode(path.read_bytes()).decode()}
            model.infer(parse_request(body, default_threshold=model.default_threshold))
        return len(frames) / (time.perf_counter() - start)
    finally:
        function.close()


def gateway_loop(frames: list[Path], workdir: Path, redis_url: str | None) -> tuple[float, int]:
    """Frames per second of a whole-task request, and the number of saved shapes."""
    from cvat_sdk import make_client
    from cvat_sdk.api_client import models

    from cvat_serverless.stack import LocalStack

    stack = LocalStack(folders=[MTCNN], data_dir=workdir / "data", num_workers=1, redis_url=redis_url)
    assert stack.start() == {}
    try:
        with make_client(stack.gateway_url, credentials=("admin", "admin")) as client:
            client.config.status_check_period = 0.05
            task = client.tasks.create_from_data(
                spec={"name": "bench", "labels": [{"name": "face", "type": "rectangle"}]},
                resources=[str(p) for p in frames],
            )
            warm = {"task": task.id, "frame": 0}
            client.api_client.lambda_api.create_functions("pth-timesler-mtcnn", online_function_call_request=warm)
            request = models.FunctionCallRequest(function="pth-timesler-mtcnn", task=task.id, cleanup=True)
            start = time.perf_counter()
            call, _ = client.api_client.lambda_api.create_requests(request)
            while call.status not in ("finished", "failed"):
                time.sleep(0.02)
                call, _ = client.api_client.lambda_api.retrieve_requests(call.id)
            elapsed = time.perf_counter() - start
            assert call.status == "finished", call.exc_info
            return len(frames) / elapsed, len(task.get_annotations().shapes)
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--redis", action="store_true", help="run the request on RQ with a real redis-server")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    frames = make_frames(workdir / "frames", args.frames)
    redis = None
    if args.redis:
        from cvat_serverless.harness.redis_server import RedisServer

        redis = RedisServer().start()
    try:
        raw = raw_loop(frames)
        gateway, shapes = gateway_loop(frames, workdir, redis.url if redis else None)
    finally:
        if redis is not None:
            redis.close()
    queue = "RQ/redis" if args.redis else "in-process"
    print(f"frames={len(frames)} queue={queue} shapes={shapes}")
    print(f"raw loop: {raw:.2f} frames/s   gateway request: {gateway:.2f} frames/s   ratio {gateway / raw:.3f}")


if __name__ == "__main__":
    main()
