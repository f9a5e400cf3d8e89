"""SAM 2.1 interactor: the second click reuses the cached features; the browser-decoder features match them."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from common.errors import InvalidFunctionConfig
from common.image import encode_image
from common.sam2_model import Sam2Settings, backbone_sizes
from cvat_serverless.harness.discovery import load_cases
from cvat_serverless.runtime import LoadedFunction

FOLDER = Path(__file__).parents[1] / "serverless/pytorch/facebookresearch/sam2/nuclio"


def test_clicks_hit_the_cache_and_features_are_float32(tmp_path: Path) -> None:
    cases = load_cases(FOLDER)
    assert cases is not None
    function = LoadedFunction.load(FOLDER, env=cases.environment(tmp_path))
    try:
        cache = function.context.user_data.model.cache
        image = encode_image(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8))
        first = function.invoke({"image": image, "pos_points": [[50, 60]], "neg_points": []})
        second = function.invoke({"image": image, "pos_points": [[52, 61]], "neg_points": [[5, 5]]})
        features = function.invoke({"image": image}).json()
        assert first.status_code == second.status_code == 200
        assert (cache.misses, cache.hits) == (1, 2)
        cached = cache._items[next(iter(cache._items))][0]["features"]
        embed = np.frombuffer(base64.b64decode(features["image_embed"]), "<f4")
        assert np.allclose(embed, cached["image_embed"].numpy().ravel())
        high = np.frombuffer(base64.b64decode(features["high_res_feats_1"]), "<f4")
        assert np.allclose(high, cached["high_res_feats"][1].numpy().ravel())
    finally:
        function.close()


def test_settings_from_env(tmp_path: Path) -> None:
    checkpoint = tmp_path / "x.pt"
    checkpoint.write_bytes(b"")
    settings = Sam2Settings.from_env({"SAM2_MODEL": "small", "SAM2_CHECKPOINT": str(checkpoint)})
    assert settings.config.endswith("sam2.1_hiera_s.yaml") and settings.checkpoint == checkpoint
    with pytest.raises(InvalidFunctionConfig, match="SAM2_CHECKPOINT"):
        Sam2Settings.from_env({"SAM2_MODEL": "small", "SAM2_CHECKPOINT": str(tmp_path / "missing.pt")})
    with pytest.raises(InvalidFunctionConfig, match="SAM2_MODEL"):
        Sam2Settings.from_env({"SAM2_MODEL": "huge"})
    with pytest.raises(InvalidFunctionConfig, match="JSON"):
        Sam2Settings.from_env({"SAM2_HYDRA_OVERRIDES": "[not json"})


def test_backbone_sizes_follow_the_input_size() -> None:
    class Model:
        image_size = 1024

    assert backbone_sizes(Model()) == [(256, 256), (128, 128), (64, 64)]
