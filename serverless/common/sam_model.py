"""Segment Anything, shared by its two functions: CVAT's browser-decoder blob and server-side masks.

CVAT 2.73's SAM plugin engages only for the function id ``pth-facebookresearch-sam-vit-h``: it
sends the clicks in every request and decodes ``result.blob`` (the image embedding) in the
browser, so under that id the answer is always the blob. Server-side masks (any client, CVAT's
UI without the plugin) are offered by a second function id; both build the model here.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from common.devices import torch_device
from common.embedding_cache import EmbeddingCache, image_key
from common.errors import BadRequest, InvalidFunctionConfig
from common.image import to_array
from common.interactor import InteractorRequest, InteractorRules, best_mask, click_prompts
from common.labels import load_function_config
from common.weights import weights_path

MODEL_TYPE_ENV = "SAM_MODEL_TYPE"  # vit_h (default, as upstream), vit_l or vit_b
CHECKPOINT_ENV = "SAM_CHECKPOINT"
CHECKPOINTS = {"vit_h": "sam_vit_h_4b8939.pth", "vit_l": "sam_vit_l_0b3195.pth", "vit_b": "sam_vit_b_01ec64.pth"}
TINY_CONFIG_ENV = "SAM_TINY_CONFIG"  # tests only: JSON of small architecture dims
CACHE_ENTRIES_ENV = "SAM_CACHE_ENTRIES"


def build_sam(model_type: str, checkpoint: Path | None, tiny_config: Path | None = None) -> Any:
    """The published architecture from segment_anything's registry, or a small one of the same classes.

    Without ``checkpoint`` the weights stay randomly initialised (tests write tiny checkpoints so).
    """
    import torch
    from segment_anything import sam_model_registry
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    if tiny_config is None:
        return sam_model_registry[model_type](checkpoint=str(checkpoint) if checkpoint else None)
    dims = json.loads(tiny_config.read_text())
    image_size, patch, prompt_dim = dims["img_size"], dims["patch_size"], dims["prompt_dim"]
    model = Sam(
        image_encoder=ImageEncoderViT(**dims["encoder"], img_size=image_size, patch_size=patch, out_chans=prompt_dim),
        prompt_encoder=PromptEncoder(
            embed_dim=prompt_dim,
            image_embedding_size=(image_size // patch,) * 2,
            input_image_size=(image_size, image_size),
            mask_in_chans=4,
        ),
        mask_decoder=MaskDecoder(
            transformer_dim=prompt_dim,
            iou_head_hidden_dim=prompt_dim,
            iou_head_depth=2,
            transformer=TwoWayTransformer(depth=1, embedding_dim=prompt_dim, mlp_dim=2 * prompt_dim, num_heads=2),
        ),
    )
    if checkpoint is not None:
        model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    return model


class SamInteractor:
    """One function's model: ``blob`` answers the embedding for the browser, ``masks`` decodes on the server.

    Both modes share the embedding cache: repeated requests on a frame skip the image encoder.
    """

    def __init__(self, function_dir: Path, answer: str, logger: Any = None) -> None:
        from segment_anything import SamPredictor

        if answer not in ("blob", "masks"):
            raise ValueError(f"answer must be 'blob' or 'masks', got {answer!r}")
        self.answer = answer
        self.config = load_function_config(function_dir)
        self.rules = InteractorRules.from_config(self.config)
        model_type = os.environ.get(MODEL_TYPE_ENV, "vit_h")
        if model_type not in CHECKPOINTS:
            raise InvalidFunctionConfig(f"{MODEL_TYPE_ENV} must be one of {sorted(CHECKPOINTS)}, got {model_type!r}")
        checkpoint = weights_path(CHECKPOINT_ENV, Path("/opt/nuclio/sam") / CHECKPOINTS[model_type])
        tiny = os.environ.get(TINY_CONFIG_ENV)
        self.predictor = SamPredictor(
            build_sam(model_type, checkpoint, Path(tiny) if tiny else None).to(torch_device()).eval()
        )
        self.cache: EmbeddingCache[dict[str, Any]] = EmbeddingCache(
            max_entries=int(os.environ.get(CACHE_ENTRIES_ENV, "16")),
            size_of=lambda entry: entry["features"].numel() * entry["features"].element_size(),
        )
        self.logger = logger

    def _embed(self, pixels: np.ndarray) -> dict[str, Any]:
        import torch

        with torch.inference_mode():
            self.predictor.set_image(pixels)
        return {
            "features": self.predictor.features,
            "original_size": self.predictor.original_size,
            "input_size": self.predictor.input_size,
        }

    def _use(self, pixels: np.ndarray) -> dict[str, Any]:
        entry = self.cache.get_or_compute(image_key(pixels), lambda: self._embed(pixels), self.logger)
        self.predictor.features = entry["features"]
        self.predictor.original_size, self.predictor.input_size = entry["original_size"], entry["input_size"]
        self.predictor.is_image_set = True
        return entry

    def infer(self, request: InteractorRequest) -> Any:
        pixels = to_array(request.image)
        entry = self._use(pixels)
        if self.answer == "blob":
            # The plugin's clicks and box are decoded in the browser; the server's part is the embedding.
            features = entry["features"].detach().float().cpu().numpy()
            return {"blob": base64.b64encode(np.ascontiguousarray(features, dtype="<f4").tobytes()).decode("ascii")}
        if not len(request.pos_points) and not len(request.neg_points) and request.obj_bbox is None:
            raise BadRequest("send clicks ('pos_points' / 'neg_points') or an 'obj_bbox' to segment an object")
        points, labels = click_prompts(request)
        import torch

        with torch.inference_mode():
            masks, scores, _ = self.predictor.predict(
                point_coords=points,
                point_labels=labels,
                box=np.asarray(request.obj_bbox) if request.obj_bbox is not None else None,
                multimask_output=True,
            )
        return best_mask(masks, scores)
