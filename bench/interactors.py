"""Interactor latency: first click on a frame (encoder + decoder) vs a repeated click (cache hit).

    .venv/bin/python bench/interactors.py [--family sam|sam2] [--model M] [--first 2] [--repeat 20]

Models: sam vit_b (default), vit_l, vit_h; sam2 tiny (default), small, base_plus, large.

Random weights of the full architecture cost what the published ones cost, so timings are real.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from common.image import encode_image
from cvat_serverless.harness.sam2_models import write_full_sam2
from cvat_serverless.runtime import LoadedFunction

ROOT = Path(__file__).resolve().parents[1]
SAM = ROOT / "serverless/pytorch/facebookresearch/sam-masks/nuclio"  # server-side masks: encoder + decoder
SAM2 = ROOT / "serverless/pytorch/facebookresearch/sam2/nuclio"


def random_checkpoint(model_type: str, workdir: Path) -> Path:
    """A state dict of the full ``model_type`` architecture with seeded random weights."""
    import torch
    from segment_anything import sam_model_registry

    torch.manual_seed(0)
    path = workdir / f"sam_{model_type}_random.pth"
    torch.save(sam_model_registry[model_type]().state_dict(), path)
    return path


def environment(family: str, model: str, workdir: Path) -> tuple[Path, dict[str, str]]:
    if family == "sam2":
        checkpoint = write_full_sam2(model, workdir / f"sam2.1_{model}_random.pt")
        return SAM2, {"SAM2_MODEL": model, "SAM2_CHECKPOINT": str(checkpoint)}
    return SAM, {"SAM_MODEL_TYPE": model, "SAM_CHECKPOINT": str(random_checkpoint(model, workdir))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="sam", choices=("sam", "sam2"))
    parser.add_argument(
        "--model", default=None, help="sam: vit_b (default), vit_l, vit_h; sam2: tiny (default) ... large"
    )
    parser.add_argument("--first", type=int, default=2, help="first clicks (each on a new frame)")
    parser.add_argument("--repeat", type=int, default=20, help="repeated clicks on the last frame")
    args = parser.parse_args()
    model = args.model or ("tiny" if args.family == "sam2" else "vit_b")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as workdir:
        folder, env = environment(args.family, model, Path(workdir))
        start = time.perf_counter()
        function = LoadedFunction.load(folder, env=env)
        cold = time.perf_counter() - start
        first, repeated = [], []
        for _ in range(args.first):
            image = encode_image(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
            start = time.perf_counter()
            assert function.invoke({"image": image, "pos_points": [[320, 240]]}).status_code == 200
            first.append(time.perf_counter() - start)
        for index in range(args.repeat):
            start = time.perf_counter()
            body = {"image": image, "pos_points": [[320, 240], [300 + index, 200]], "neg_points": [[10, 10]]}
            assert function.invoke(body).status_code == 200
            repeated.append(time.perf_counter() - start)
        function.close()
    p50_first, p50_repeat = statistics.median(first) * 1000, statistics.median(repeated) * 1000
    print(f"{args.family.upper()} {model} on CPU, 640×480, init_context {cold:.1f} s\n")
    print("| click | calls | p50 ms |\n|---|---|---|")
    print(f"| first on a frame (encoder + decoder) | {len(first)} | {p50_first:.0f} |")
    print(f"| repeated on the same frame (cache hit) | {len(repeated)} | {p50_repeat:.0f} |")
    print(f"\nrepeated click is {p50_first / p50_repeat:.0f}× faster (target ≥ 10×)")


if __name__ == "__main__":
    main()
