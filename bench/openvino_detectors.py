"""OpenVINO functions: cold start, p50/p95, handler ÷ raw, and worker processes vs OpenVINO streams.

    .venv/bin/python bench/openvino_detectors.py [--calls 20] [--requests 24]

The published Open Model Zoo IRs cannot be downloaded here, so the measurements run the real
DEXTR function (serverless/openvino/dextr) on an IR of realistic cost with DEXTR's input and output
(1×4×512×512 → 1×1×512×512): torchvision's DeepLabV3-ResNet-50 with a 4-channel stem and one class,
random weights, converted with OpenVINO's PyTorch frontend. Random weights cost what trained ones do.

- cold start: ``init_context`` (IR read + compile) in-process;
- p50/p95: full in-process invoke (JSON, base64, decoding, crop, heatmap, inference, paste-back, polygon);
- handler ÷ raw: that invoke vs the compiled model alone on the prepared tensor;
- throughput: requests/s through a processor with 2 concurrent clients, for
  ``numWorkers: 2`` × ``CVAT_FN_OV_STREAMS=1`` (the yaml default) vs ``numWorkers: 1`` × OpenVINO's
  own default, vs ``numWorkers: 1`` × 2 streams.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from common.image import encode_image
from cvat_serverless.processor import start_processor
from cvat_serverless.runtime import LoadedFunction

ROOT = Path(__file__).resolve().parents[1]
DEXTR = ROOT / "serverless/openvino/dextr/nuclio"
POINTS = [[60, 240], [560, 230], [300, 80], [310, 400]]


def dextr_shaped_ir(path: Path) -> Path:
    """DeepLabV3-ResNet-50 (random weights) with DEXTR's I/O, saved as an OpenVINO IR."""
    import openvino as ov
    import torch
    from torchvision.models.segmentation import deeplabv3_resnet50

    torch.manual_seed(0)
    net = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=1, aux_loss=False)
    net.backbone.conv1 = torch.nn.Conv2d(4, 64, kernel_size=7, stride=2, padding=3, bias=False)

    class Probabilities(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net.eval()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.net(x)["out"])

    with torch.no_grad():
        model = ov.convert_model(Probabilities().eval(), example_input=torch.zeros(1, 4, 512, 512))
    model.inputs[0].get_tensor().set_names({"input"})
    model.outputs[0].get_tensor().set_names({"output"})
    ov.save_model(model, path)
    return path


def in_process(env: dict[str, str], calls: int, body: dict) -> tuple[float, float, float, float]:
    """(cold start s, p50 ms, p95 ms, handler ÷ raw) of the function loaded in this process."""
    start = time.perf_counter()
    function = LoadedFunction.load(DEXTR, env=env)
    cold = time.perf_counter() - start
    model = function.context.user_data.model
    handler_times, raw_times = [], []
    tensor = np.zeros((1, 4, 512, 512), np.float32)
    function.invoke(body)
    for _ in range(calls):
        start = time.perf_counter()
        assert function.invoke(body).status_code == 200
        handler_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        model.model(tensor)
        raw_times.append(time.perf_counter() - start)
    function.close()
    p50 = statistics.median(handler_times)
    p95 = float(np.percentile(handler_times, 95))
    return cold, p50 * 1000, p95 * 1000, p50 / statistics.median(raw_times)


def throughput(env: dict[str, str], workers: int, requests: int, body: dict, clients: int = 2) -> float:
    """Requests per second through a processor with ``clients`` concurrent callers."""
    handle = start_processor(DEXTR, env=env, num_workers=workers)
    try:
        with httpx.Client(timeout=120) as client:
            client.post(handle.url, json=body)

            def call(_: int) -> int:
                return client.post(handle.url, json=body).status_code

            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                statuses = list(pool.map(call, range(requests)))
            elapsed = time.perf_counter() - start
        assert set(statuses) == {200}, statuses
        return requests / elapsed
    finally:
        handle.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--requests", type=int, default=24)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    body = {"image": encode_image(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)), "pos_points": POINTS}
    with tempfile.TemporaryDirectory() as workdir:
        ir = dextr_shaped_ir(Path(workdir) / "dextr.xml")
        base = {"DEXTR_MODEL": str(ir)}
        cold, p50, p95, ratio = in_process({**base, "CVAT_FN_OV_STREAMS": "1"}, args.calls, body)
        print("| function | cold start s | p50 ms | p95 ms | handler ÷ raw |\n|---|---|---|---|---|")
        print(
            f"| openvino-dextr (DeepLabV3-R50-sized IR, 640×480) | {cold:.2f} | {p50:.0f} | {p95:.0f} | {ratio:.2f} |"
        )
        print("\n| configuration (2 concurrent clients) | requests/s |\n|---|---|")
        for label, workers, streams in (
            ("numWorkers 2 × CVAT_FN_OV_STREAMS=1 (yaml default)", 2, "1"),
            ("numWorkers 1 × OpenVINO default streams", 1, None),
            ("numWorkers 1 × CVAT_FN_OV_STREAMS=2", 1, "2"),
        ):
            env = {**base, **({"CVAT_FN_OV_STREAMS": streams} if streams else {})}
            print(f"| {label} | {throughput(env, workers, args.requests, body):.2f} |")


if __name__ == "__main__":
    main()
