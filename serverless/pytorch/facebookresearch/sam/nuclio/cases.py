"""Harness cases on a tiny Segment Anything of the real classes (contract checks, not accuracy)."""

import base64
import json
from pathlib import Path

import numpy as np

from cvat_serverless.harness import Case, Result, expect, sample_image
from cvat_serverless.harness.discovery import load_module

TINY = {
    "img_size": 256,
    "patch_size": 16,
    "prompt_dim": 32,
    "encoder": {
        "depth": 2,
        "embed_dim": 64,
        "num_heads": 2,
        "window_size": 4,
        "global_attn_indexes": [1],
        "mlp_ratio": 2,
    },
}
EMBEDDING_SHAPE = (1, 32, 16, 16)  # the tiny encoder's; vit_h/l/b give 1×256×64×64 as CVAT's plugin expects


def environment(workdir: Path) -> dict[str, str]:
    import torch

    handler = load_module(Path(__file__).parent / "model_handler.py", "sam_model_handler_for_cases")
    config = workdir / "tiny-sam.json"
    config.write_text(json.dumps(TINY))
    torch.manual_seed(0)
    checkpoint = workdir / "tiny-sam.pth"
    torch.save(handler.build_sam("vit_b", None, config).state_dict(), checkpoint)
    return {"SAM_TINY_CONFIG": str(config), "SAM_CHECKPOINT": str(checkpoint)}


def blob_check(result: Result) -> None:
    assert result.status == 200, result.payload
    raw = base64.b64decode(result.payload["blob"])
    assert len(raw) == 4 * int(np.prod(EMBEDDING_SHAPE))
    assert np.isfinite(np.frombuffer(raw, dtype="<f4")).all()


CASES = [
    Case(
        "image only: the embedding blob for CVAT's browser decoder",
        body={"image": sample_image("coffee")},
        check=blob_check,
    ),
    Case(
        "clicks: a mask decoded on the server",
        body={"image": sample_image("coffee"), "pos_points": [[300, 200]], "neg_points": [[20, 20]]},
        check=expect.interactor_mask(min_area=1),
    ),
    Case(
        "a box alone",
        body={
            "image": sample_image("coffee"),
            "pos_points": [],
            "neg_points": [],
            "obj_bbox": [[200, 100], [420, 300]],
        },
        check=expect.interactor_mask(min_area=1),
    ),
]
