"""Random-init weights of real torchvision detection architectures, for harness cases."""

from __future__ import annotations

from pathlib import Path


def random_weights(architecture: str, num_classes: int, workdir: Path, seed: int = 0) -> Path:
    """Save the state dict of ``torchvision.models.detection.<architecture>`` with seeded random weights."""
    import torch
    from torchvision.models import detection

    path = workdir / f"{architecture}-random.pth"
    if not path.exists():
        torch.manual_seed(seed)
        model = getattr(detection, architecture)(weights=None, weights_backbone=None, num_classes=num_classes)
        head = getattr(getattr(model, "head", None), "classification_head", None)
        if head is not None:
            # RetinaNet starts its class logits at a 1 % prior, under its own 5 % score floor:
            # a zero bias gives random scores around 50 %, so the output path is exercised.
            torch.nn.init.zeros_(head.cls_logits.bias)
        torch.save(model.state_dict(), path)
    return path
