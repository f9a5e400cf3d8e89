"""RITM checkpoints of the published HRNet-18 architecture with random weights (same cost as the real ones)."""

from __future__ import annotations

from pathlib import Path

H18_ITERMASK = {
    "width": 18,
    "ocr_width": 64,
    "small": False,
    "with_aux_output": True,
    "use_leaky_relu": True,
    "use_rgb_conv": False,
    "use_disks": True,
    "norm_radius": 5,
    "with_prev_mask": True,
}
"""The architecture of SamsungLabs' ``coco_lvis_h18_itermask.pth``."""


def write_random_ritm_checkpoint(path: Path, seed: int = 0) -> Path:
    """Save ``{"config", "state_dict"}`` as RITM does, for an HRNet-18 itermask model with seeded random weights."""
    import torch
    from ritm_annotation.model.is_hrnet_model import HRNetModel

    torch.manual_seed(seed)
    model = HRNetModel(**H18_ITERMASK)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": model._config, "state_dict": model.state_dict()}, path)
    return path
