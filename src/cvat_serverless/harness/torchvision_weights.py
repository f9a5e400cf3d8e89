"""Random-init weights of real torchvision detection architectures, for harness cases."""

from __future__ import annotations

from collections.abc import Callable
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


def contract_cases(
    architecture: str, num_classes: int, shape_type: str
) -> tuple[Callable[[Path], dict[str, str]], list]:
    """``(environment, CASES)`` for a torchvision folder: random weights, small inputs, contract checks.

    Small input sizes keep the full-size network fast enough for the suite; accuracy is not
    checked (the weights are random), the wire contract and the threshold are.
    """
    from cvat_serverless.harness import Case, expect, sample_image

    def environment(workdir: Path) -> dict[str, str]:
        return {
            "TORCHVISION_WEIGHTS": str(random_weights(architecture, num_classes, workdir)),
            "TORCHVISION_MIN_SIZE": "128",
            "TORCHVISION_MAX_SIZE": "192",
        }

    cases = [
        Case(
            "contract at threshold 0",
            body={"image": sample_image("coffee"), "threshold": 0.0},
            check=expect.detections(min_count=1, types=[shape_type]),
        ),
        Case(
            "threshold above every score",
            body={"image": sample_image("coffee"), "threshold": 1.0},
            check=expect.detections(max_count=0),
        ),
    ]
    return environment, cases
