"""Tracker and ReID costs: ms per frame per object, state bytes per object, ReID ms per frame pair.

.venv/bin/python bench/trackers.py [--frames 20] [--objects 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from common.image import encode_image
from cvat_serverless.harness.discovery import load_cases
from cvat_serverless.runtime import LoadedFunction

ROOT = Path(__file__).resolve().parents[1]
TRACKER = ROOT / "serverless/opencv/tracker/nuclio"
REID = ROOT / "serverless/pytorch/levan92/deep-sort-mobilenetv2/nuclio"
SAM2_TRACKER = ROOT / "serverless/pytorch/facebookresearch/sam2-tracker/nuclio"


def tracker_costs(frames: int, objects: int) -> tuple[float, float]:
    """(ms per frame per object, state bytes per object) for the OpenCV tracker."""
    cases = load_cases(TRACKER)
    assert cases is not None
    images = [encode_image(cases.frame_image(i)) for i in range(frames + 1)]
    boxes = [[60.0 + 70 * k, 40.0 + 50 * (k % 3), 120.0 + 70 * k, 100.0 + 50 * (k % 3)] for k in range(objects)]
    function = LoadedFunction.load(TRACKER)
    answer = function.invoke({"image": images[0], "shapes": boxes}).json()
    times = []
    for image in images[1:]:
        start = time.perf_counter()
        answer = function.invoke({"image": image, "states": answer["states"]}).json()
        times.append(time.perf_counter() - start)
    function.close()
    state_bytes = statistics.mean(len(state) for state in answer["states"])
    return statistics.median(times) * 1000 / objects, state_bytes


def sam2_costs(frames: int, objects: int, model: str = "tiny") -> tuple[float, float, float]:
    """(ms per frame per object, stored bytes per object in Redis, token bytes) for the SAM2 tracker.

    The full packaged ``model`` config with random weights (same cost as the published ones), its
    state in a real redis-server started here.
    """
    import tempfile

    from cvat_serverless.harness.redis_server import RedisServer
    from cvat_serverless.harness.sam2_models import write_full_sam2

    cases = load_cases(TRACKER)
    assert cases is not None
    images = [encode_image(cases.frame_image(i)) for i in range(frames + 1)]
    polygons = [
        {
            "type": "polygon",
            "points": [60.0 + 70 * k, 40.0, 120.0 + 70 * k, 40.0, 120.0 + 70 * k, 100.0, 60.0 + 70 * k, 100.0],
        }
        for k in range(objects)
    ]
    redis = RedisServer().start()
    with tempfile.TemporaryDirectory() as workdir:
        env = {
            "SAM2_MODEL": model,
            "SAM2_CHECKPOINT": str(write_full_sam2(model, Path(workdir) / "sam2.pt")),
            "CVAT_FUNCTIONS_REDIS_HOST": "127.0.0.1",
            "CVAT_FUNCTIONS_REDIS_PORT": str(redis.port),
            "CVAT_FN_STATE_SECRET": "bench-only-secret",  # Redis-backed states need one shared secret
        }
        function = LoadedFunction.load(SAM2_TRACKER, env=env)
        answer = function.invoke({"image": images[0], "shapes": polygons}).json()
        times = []
        for image in images[1:]:
            start = time.perf_counter()
            answer = function.invoke({"image": image, "states": answer["states"]}).json()
            times.append(time.perf_counter() - start)
        function.close()
    client = redis.client()
    stored = [client.strlen(key) for key in client.keys("cvat-serverless:state:*")]
    redis.close()
    token = statistics.mean(len(state) for state in answer["states"])
    return statistics.median(times) * 1000 / objects, statistics.mean(stored), token


def reid_cost(pairs: int = 5, boxes: int = 10) -> float:
    """ms per frame pair with ``boxes`` × ``boxes`` boxes for the MobileNetV2 ReID."""
    rng = np.random.default_rng(0)
    image = encode_image(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    shapes = [{"type": "rectangle", "points": [40.0 * k, 30.0, 40.0 * k + 35, 130.0]} for k in range(boxes)]
    function = LoadedFunction.load(REID)
    body = {"image0": image, "image1": image, "boxes0": shapes, "boxes1": shapes}
    function.invoke(body)
    times = []
    for _ in range(pairs):
        start = time.perf_counter()
        assert function.invoke(body).status_code == 200
        times.append(time.perf_counter() - start)
    function.close()
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--objects", type=int, default=5)
    args = parser.parse_args()
    per_object, state_bytes = tracker_costs(args.frames, args.objects)
    print("| measure | value |\n|---|---|")
    print(f"| OpenCV tracker, ms per frame per object ({args.objects} objects, 480×360) | {per_object:.1f} |")
    print(f"| OpenCV tracker, state bytes per object | {state_bytes:.0f} |")
    print(f"| MobileNetV2 ReID, ms per frame pair (10 × 10 boxes, 640×480) | {reid_cost():.0f} |")
    sam2_ms, sam2_stored, sam2_token = sam2_costs(args.frames, 2)
    print(f"| SAM2 hiera-tiny tracker, ms per frame per object (2 objects, 480×360) | {sam2_ms:.0f} |")
    print(f"| SAM2 hiera-tiny tracker, bytes per object in Redis (after {args.frames} frames) | {sam2_stored:,.0f} |")
    print(f"| SAM2 hiera-tiny tracker, state token bytes the client carries | {sam2_token:.0f} |")


if __name__ == "__main__":
    main()
