"""The one SAM 2.1 loader, shared by the SAM2 interactor and the SAM2 tracker.

Needs the ``sam2`` package (built without CUDA extensions: ``SAM2_BUILD_CUDA=0 pip install
--no-build-isolation sam2==1.1.0``). Environment:

- ``SAM2_MODEL``: ``tiny``, ``small``, ``base_plus`` or ``large`` (the packaged 2.1 hydra configs);
- ``SAM2_CHECKPOINT``: the checkpoint (default ``/opt/nuclio/sam2/sam2.1_hiera_<model>.pt``);
- ``SAM2_HYDRA_OVERRIDES``: a JSON list of extra hydra overrides (tests build tiny models so);
- ``CVAT_FN_DEVICE``: ``cuda``/``cpu`` (default: CUDA when present, see :mod:`common.devices`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.devices import torch_device
from common.errors import InvalidFunctionConfig
from common.weights import weights_path

CONFIGS = {
    "tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "base_plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "large": "configs/sam2.1/sam2.1_hiera_l.yaml",
}
MODEL_ENV, CHECKPOINT_ENV, OVERRIDES_ENV = "SAM2_MODEL", "SAM2_CHECKPOINT", "SAM2_HYDRA_OVERRIDES"


@dataclass(frozen=True)
class Sam2Settings:
    """Which SAM 2.1 model to build, from where, on which device."""

    model: str
    checkpoint: Path | None
    overrides: tuple[str, ...]
    device: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, default_model: str = "large") -> Sam2Settings:
        env = os.environ if environ is None else environ
        model = env.get(MODEL_ENV, default_model)
        if model not in CONFIGS:
            raise InvalidFunctionConfig(f"{MODEL_ENV} must be one of {sorted(CONFIGS)}, got {model!r}")
        try:
            overrides = json.loads(env.get(OVERRIDES_ENV) or "[]")
        except ValueError as error:
            raise InvalidFunctionConfig(f"{OVERRIDES_ENV} is not a JSON list: {error}") from None
        checkpoint = weights_path(CHECKPOINT_ENV, Path("/opt/nuclio/sam2") / f"sam2.1_hiera_{model}.pt", env)
        return cls(model, checkpoint, tuple(str(o) for o in overrides), str(torch_device()))

    @property
    def config(self) -> str:
        return CONFIGS[self.model]


def build_model(settings: Sam2Settings, *, video: bool = False) -> Any:
    """The SAM2 model (``video=True``: the video predictor class, for tracking) in eval mode."""
    from sam2.build_sam import build_sam2, build_sam2_video_predictor

    builder = build_sam2_video_predictor if video else build_sam2
    checkpoint = str(settings.checkpoint) if settings.checkpoint else None
    return builder(settings.config, checkpoint, device=settings.device, hydra_overrides_extra=list(settings.overrides))


def backbone_sizes(model: Any) -> list[tuple[int, int]]:
    """The three feature-map sizes of the image encoder (SAM2ImagePredictor assumes 1024 inputs)."""
    size = int(model.image_size)
    return [(size // 4, size // 4), (size // 8, size // 8), (size // 16, size // 16)]


def image_predictor(model: Any) -> Any:
    """A ``SAM2ImagePredictor`` whose feature sizes follow the model's input size."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    predictor = SAM2ImagePredictor(model)
    predictor._bb_feat_sizes = backbone_sizes(model)
    return predictor
