"""Run TransT v1.0 (dschoerk/TransT) on the locked stack: import shims, the network without downloads, a safe load.

Upstream's import chain breaks on torchvision >= 0.10: ``util/misc.py`` parses
``float(torchvision.__version__[:3])`` ("0.29.1" -> 0.2 < 0.7) and then imports two helpers torchvision
no longer has, and ``ltr/models/backbone/resnet.py`` imports ``torchvision.models.resnet.model_urls``
(gone since 0.13). :func:`install_shims` puts equivalents back before the first import.

Upstream builds the network with ``resnet50(pretrained=True)`` (an ImageNet download at every cold
start, no checksum) and unpickles the checkpoint's ``constructor`` (``torch.load`` with
weights_only=False). The checkpoint holds the whole network, so :func:`build_network` builds the same
modules with the hyper-parameters of ltr/train_settings/transt/transt.py, without pretrained weights,
and :func:`load_checkpoint` reads it with ``weights_only=True`` and an allow-list of the few plain
classes ltr's trainer pickles next to the weights (their code runs no ``__reduce__``).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

# ltr/train_settings/transt/transt.py (the published transt.pth was trained with these).
SETTINGS = SimpleNamespace(
    position_embedding="sine", hidden_dim=256, dropout=0.1, nheads=8, dim_feedforward=2048, featurefusion_layers=4
)
# What ltr's trainer pickles beside the weights (ltr/trainers/base_trainer.py: save_checkpoint).
ALLOWED_CLASSES = (
    ("ltr.admin.model_constructor", "NetConstructor"),
    ("ltr.admin.settings", "Settings"),
    ("ltr.admin.local", "EnvironmentSettings"),
    ("ltr.admin.stats", "StatValue"),
    ("ltr.admin.stats", "AverageMeter"),
)
# torchvision's former table; only read when pretrained=True, which build_network never asks for.
RESNET_URLS = {"resnet50": "https://download.pytorch.org/models/resnet50-19c8e357.pth"}


def _new_empty_tensor(tensor: Any, shape: Any) -> Any:
    return tensor.new_empty(shape)


def _output_size(dim: int, tensor: Any, size: Any, scale_factor: Any) -> list[int]:
    if size is not None:
        return list(size)
    factors = scale_factor if isinstance(scale_factor, (list, tuple)) else [scale_factor] * dim
    return [int(tensor.size(i + 2) * factors[i]) for i in range(dim)]


def install_shims() -> None:
    """Give torchvision the three names TransT v1.0 imports (no-op where they exist)."""
    import torchvision.models.resnet
    import torchvision.ops
    import torchvision.ops.misc

    if not hasattr(torchvision.ops, "_new_empty_tensor"):
        torchvision.ops._new_empty_tensor = _new_empty_tensor
    if not hasattr(torchvision.ops.misc, "_output_size"):
        torchvision.ops.misc._output_size = _output_size
    if not hasattr(torchvision.models.resnet, "model_urls"):
        torchvision.models.resnet.model_urls = dict(RESNET_URLS)


def build_network() -> Any:
    """TransT-ResNet50 as ``transt_resnet50`` builds it, with no pretrained-backbone download."""
    install_shims()
    from ltr.models.backbone.transt_backbone import build_backbone  # type: ignore[import-not-found]
    from ltr.models.neck.featurefusion_network import build_featurefusion_network  # type: ignore[import-not-found]
    from ltr.models.tracking.transt import TransT  # type: ignore[import-not-found]

    backbone = build_backbone(SETTINGS, backbone_pretrained=False)
    return TransT(backbone, build_featurefusion_network(SETTINGS), num_classes=1)


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    """The checkpoint's ``net`` state dict, read with weights_only=True (allow-listed ltr classes only)."""
    import importlib

    import torch

    install_shims()
    allowed = [getattr(importlib.import_module(module), name) for module, name in ALLOWED_CLASSES]
    with torch.serialization.safe_globals(allowed):
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # pickle.UnpicklingError names the class that is not allow-listed
            raise RuntimeError(f"{path}: not loadable as a TransT checkpoint with weights_only=True: {error}") from None
    state = checkpoint.get("net", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise RuntimeError(f"{path}: no 'net' state dict in the checkpoint")
    return {key.removeprefix("module."): value for key, value in state.items()}


def load_network(path: Path | str, device: Any) -> Any:
    """The TransT network with the checkpoint's weights (every parameter must be there), in eval mode."""
    network = build_network()
    network.load_state_dict(load_checkpoint(path), strict=True)
    return network.to(device).eval()
