"""Tiny Segment Anything models of the real classes, for both SAM functions' cases and tests."""

from __future__ import annotations

import json
from pathlib import Path

TINY_SAM = {
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
TINY_EMBEDDING_SHAPE = (1, 32, 16, 16)
"""The tiny encoder's embedding; vit_h/l/b give 1×256×64×64 as CVAT's SAM plugin expects."""


def tiny_sam_env(workdir: Path, seed: int = 0) -> dict[str, str]:
    """Write a seeded tiny SAM (config + checkpoint) and return the environment that loads it."""
    import torch

    from common.sam_model import build_sam

    config = workdir / "tiny-sam.json"
    config.write_text(json.dumps(TINY_SAM))
    torch.manual_seed(seed)
    checkpoint = workdir / "tiny-sam.pth"
    torch.save(build_sam("vit_b", None, config).state_dict(), checkpoint)
    return {"SAM_TINY_CONFIG": str(config), "SAM_CHECKPOINT": str(checkpoint)}
