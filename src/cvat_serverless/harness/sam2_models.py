"""Tiny SAM 2.1 models of the real architecture, from the packaged hiera-t config (environment-notes §2)."""

from __future__ import annotations

from pathlib import Path

TINY_SAM2_OVERRIDES = [
    "++model.image_size=256",
    "++model.image_encoder.trunk.embed_dim=8",
    "++model.image_encoder.trunk.num_heads=1",
    "++model.image_encoder.trunk.stages=[1,1,2,1]",
    "++model.image_encoder.trunk.global_att_blocks=[3]",
    "++model.image_encoder.neck.backbone_channel_list=[64,32,16,8]",
    "++model.image_encoder.neck.d_model=32",
    "++model.image_encoder.neck.position_encoding.num_pos_feats=32",
    "++model.memory_attention.d_model=32",
    "++model.memory_attention.layer.d_model=32",
    "++model.memory_attention.layer.dim_feedforward=64",
    "++model.memory_attention.layer.self_attention.embedding_dim=32",
    "++model.memory_attention.layer.self_attention.feat_sizes=[16,16]",
    "++model.memory_attention.layer.cross_attention.embedding_dim=32",
    "++model.memory_attention.layer.cross_attention.kv_in_dim=16",
    "++model.memory_attention.layer.cross_attention.feat_sizes=[16,16]",
    "++model.memory_encoder.in_dim=32",
    "++model.memory_encoder.out_dim=16",
    "++model.memory_encoder.position_encoding.num_pos_feats=16",
    "++model.memory_encoder.mask_downsampler.embed_dim=32",
    "++model.memory_encoder.fuser.layer.dim=32",
]
"""Hydra overrides of ``configs/sam2.1/sam2.1_hiera_t.yaml`` giving a ≈0.7M-parameter model (≈3 MB checkpoint)."""


def write_tiny_sam2(path: Path, seed: int = 0) -> Path:
    """Build the tiny model with random weights and save it as a SAM2 checkpoint (``{"model": state_dict}``)."""
    import torch
    from sam2.build_sam import build_sam2

    torch.manual_seed(seed)
    model = build_sam2(
        "configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu", hydra_overrides_extra=TINY_SAM2_OVERRIDES
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict()}, path)
    return path


def write_full_sam2(model: str, path: Path, seed: int = 0) -> Path:
    """A checkpoint of the full packaged ``model`` config (tiny ... large) with seeded random weights.

    Random weights cost exactly what the published ones cost, so benchmarks on them are real timings.
    """
    import torch
    from sam2.build_sam import build_sam2

    from common.sam2_model import CONFIGS

    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": build_sam2(CONFIGS[model], None, device="cpu").state_dict()}, path)
    return path
