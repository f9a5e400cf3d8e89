"""SAM 2.1 image interactor: masks decoded on the server, or the encoder features for a browser decoder."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import numpy as np

from common.embedding_cache import EmbeddingCache, image_key
from common.image import to_array
from common.interactor import InteractorRequest, InteractorRules, best_mask, click_prompts
from common.labels import load_function_config
from common.sam2_model import Sam2Settings, build_model, image_predictor

CACHE_ENTRIES_ENV = "SAM2_CACHE_ENTRIES"


def _b64(tensor: Any) -> str:
    array = np.ascontiguousarray(tensor.detach().float().cpu().numpy(), dtype="<f4")
    return base64.b64encode(array.tobytes()).decode("ascii")


class ModelHandler:
    """Without prompts: the encoder features for a browser decoder. With prompts: the best mask and its score."""

    def __init__(self, logger: Any = None) -> None:
        self.config = load_function_config(Path(__file__).parent)
        self.rules = InteractorRules.from_config(self.config)
        self.predictor = image_predictor(build_model(Sam2Settings.from_env()))
        self.cache: EmbeddingCache[dict[str, Any]] = EmbeddingCache(
            max_entries=int(os.environ.get(CACHE_ENTRIES_ENV, "16")),
            size_of=lambda entry: sum(t.numel() * t.element_size() for t in entry["tensors"]),
        )
        self.logger = logger

    def _embed(self, pixels: np.ndarray) -> dict[str, Any]:
        import torch

        with torch.inference_mode():
            self.predictor.set_image(pixels)
        features = self.predictor._features
        tensors = [features["image_embed"], *features["high_res_feats"]]
        return {"features": features, "orig_hw": list(self.predictor._orig_hw), "tensors": tensors}

    def _use(self, pixels: np.ndarray) -> dict[str, Any]:
        entry = self.cache.get_or_compute(image_key(pixels), lambda: self._embed(pixels), self.logger)
        self.predictor._features = entry["features"]
        self.predictor._orig_hw = entry["orig_hw"]
        self.predictor._is_image_set, self.predictor._is_batch = True, False
        return entry

    def infer(self, request: InteractorRequest) -> Any:
        pixels = to_array(request.image)
        entry = self._use(pixels)
        if not len(request.pos_points) and not len(request.neg_points) and request.obj_bbox is None:
            features = entry["features"]
            return {
                "image_embed": _b64(features["image_embed"]),
                "high_res_feats_0": _b64(features["high_res_feats"][0]),
                "high_res_feats_1": _b64(features["high_res_feats"][1]),
            }
        points, labels = click_prompts(request)
        import torch

        with torch.inference_mode():
            masks, scores, _ = self.predictor.predict(
                point_coords=points,
                point_labels=labels,
                box=np.asarray(request.obj_bbox, dtype=np.float32).reshape(-1)
                if request.obj_bbox is not None
                else None,
                multimask_output=True,
            )
        return best_mask(masks, scores)
