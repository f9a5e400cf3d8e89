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


MEMORY_KEYS = ("maskmem_features", "maskmem_pos_enc", "obj_ptr")
NUM_FRAMES = 1 << 20
"""Tracking has no known end: a large frame count keeps SAM2's pointer limits at their maxima."""


class Sam2Memory:
    """One tracked object's memory: its conditioning frame and the last ``num_maskmem - 1`` frames.

    Converted to and from ``(data, arrays)`` for :mod:`common.state_store` (plain JSON + float16).
    """

    def __init__(self, frame: int, outputs: dict[int, dict[str, Any]], cond_frame: int = 0) -> None:
        self.frame, self.outputs, self.cond_frame = frame, outputs, cond_frame

    def output_dict(self) -> dict[str, dict[int, dict[str, Any]]]:
        cond = {self.cond_frame: self.outputs[self.cond_frame]}
        recent = {index: out for index, out in self.outputs.items() if index != self.cond_frame}
        return {"cond_frame_outputs": cond, "non_cond_frame_outputs": recent}

    def add(self, frame: int, out: dict[str, Any], keep: int) -> None:
        self.frame = frame
        self.outputs[frame] = {key: out[key] for key in MEMORY_KEYS}
        recent = sorted(index for index in self.outputs if index != self.cond_frame)
        for index in recent[: max(0, len(recent) - keep)]:
            del self.outputs[index]

    def to_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Plain JSON + float16 arrays: each frame's memory features and object pointer, and the memory's
        positional encoding once (it is the same for every frame, as SAM2's own video predictor notes when it
        caches it as a constant). SAM2's video predictor itself keeps memory features in bfloat16; float16
        has more mantissa bits and halves what float32 took (tests bound the effect on the masks)."""
        arrays: dict[str, Any] = {}
        for index, out in self.outputs.items():
            arrays[f"{index}.maskmem_features"] = out["maskmem_features"].float().cpu().numpy().astype("float16")
            arrays[f"{index}.obj_ptr"] = out["obj_ptr"].float().cpu().numpy().astype("float16")
        first = self.outputs[self.cond_frame]
        arrays["maskmem_pos_enc"] = first["maskmem_pos_enc"][-1].float().cpu().numpy().astype("float16")
        return {"frame": self.frame, "cond_frame": self.cond_frame, "frames": sorted(self.outputs)}, arrays

    @classmethod
    def from_state(cls, data: dict[str, Any], arrays: dict[str, Any], device: Any) -> Sam2Memory:
        import numpy as np
        import torch

        from common.errors import InvalidTrackerState

        def tensor(name: str) -> Any:
            return torch.from_numpy(np.asarray(arrays[name], dtype=np.float32)).to(device)

        try:
            pos_enc = tensor("maskmem_pos_enc")
            outputs = {
                int(index): {
                    "maskmem_features": tensor(f"{index}.maskmem_features"),
                    "maskmem_pos_enc": [pos_enc],
                    "obj_ptr": tensor(f"{index}.obj_ptr"),
                }
                for index in data["frames"]
            }
            memory = cls(int(data["frame"]), outputs, int(data["cond_frame"]))
        except (KeyError, TypeError, ValueError):
            raise InvalidTrackerState("invalid tracker state: not a SAM2 memory") from None
        if memory.cond_frame not in outputs:
            raise InvalidTrackerState("invalid tracker state: the SAM2 memory has no conditioning frame")
        return memory


class Sam2Tracker:
    """Frame-by-frame SAM2 video tracking of one object from a mask or a box, with the memory kept outside."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.device = next(model.parameters()).device

    def features(self, pixels: Any) -> tuple[Any, Any, Any]:
        """The image encoder's features of one frame (compute once per frame, share across objects and calls)."""
        import numpy as np
        import torch
        import torch.nn.functional as functional

        size = int(self.model.image_size)
        image = torch.from_numpy(np.require(pixels, requirements=("C", "W"))).permute(2, 0, 1).float().div(255)[None]
        image = functional.interpolate(image, size=(size, size), mode="bilinear", align_corners=False)
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        backbone_out = self.model.forward_image(((image - mean) / std).to(self.device))
        _, vision_feats, vision_pos, feat_sizes = self.model._prepare_backbone_features(backbone_out)
        # Tracking reads the positional encoding of the lowest resolution only (track_step takes ``[-1:]``):
        # the two larger ones (84 MB at 1024 px) are not kept with the features.
        return vision_feats, vision_pos[-1:], feat_sizes

    def _mask_of(self, out: dict[str, Any], shape: tuple[int, int]) -> Any:
        import torch.nn.functional as functional

        logits = functional.interpolate(out["pred_masks_high_res"], size=shape, mode="bilinear", align_corners=False)
        return (logits[0, 0] > 0).cpu().numpy()

    def start(
        self, pixels: Any, mask: Any = None, features: tuple[Any, Any, Any] | None = None, box: Any = None
    ) -> tuple[Any, Sam2Memory]:
        """Begin tracking an object in this frame from its ``mask`` (H×W bool) or its ``box``
        ``(x1, y1, x2, y2)`` (SAM2's box prompt: two corner points labelled 2 and 3): (mask, memory)."""
        import torch
        import torch.nn.functional as functional

        if (mask is None) == (box is None):
            raise ValueError("start from a mask or from a box")
        size = int(self.model.image_size)
        height, width = pixels.shape[:2]
        with torch.inference_mode():
            feats, pos, sizes = features or self.features(pixels)
            mask_inputs = point_inputs = None
            if mask is not None:
                mask_input = torch.from_numpy(mask.astype("float32"))[None, None]
                mask_input = functional.interpolate(mask_input, size=(size, size), mode="bilinear", align_corners=False)
                mask_inputs = (mask_input > 0.5).to(self.device)
            else:
                corners = torch.tensor([[box[0], box[1]], [box[2], box[3]]], dtype=torch.float32)
                corners = corners / torch.tensor([width, height], dtype=torch.float32) * size
                point_inputs = {
                    "point_coords": corners[None].to(self.device),
                    "point_labels": torch.tensor([[2, 3]], dtype=torch.int32, device=self.device),
                }
            memory = Sam2Memory(0, {}, cond_frame=0)
            out = self.model.track_step(
                frame_idx=0,
                is_init_cond_frame=True,
                current_vision_feats=feats,
                current_vision_pos_embeds=pos,
                feat_sizes=sizes,
                point_inputs=point_inputs,
                mask_inputs=mask_inputs,
                output_dict={"cond_frame_outputs": {}, "non_cond_frame_outputs": {}},
                num_frames=NUM_FRAMES,
            )
            memory.outputs[0] = {key: out[key] for key in MEMORY_KEYS}
            return self._mask_of(out, (height, width)), memory

    def step(
        self, pixels: Any, memory: Sam2Memory, features: tuple[Any, Any, Any] | None = None
    ) -> tuple[Any, Sam2Memory]:
        """Track the object into this frame: (mask, updated memory)."""
        import torch

        frame = memory.frame + 1
        with torch.inference_mode():
            feats, pos, sizes = features or self.features(pixels)
            out = self.model.track_step(
                frame_idx=frame,
                is_init_cond_frame=False,
                current_vision_feats=feats,
                current_vision_pos_embeds=pos,
                feat_sizes=sizes,
                point_inputs=None,
                mask_inputs=None,
                output_dict=memory.output_dict(),
                num_frames=NUM_FRAMES,
            )
            memory.add(frame, out, keep=int(self.model.num_maskmem) - 1)
            return self._mask_of(out, pixels.shape[:2]), memory
