"""Segment Anything: the second click on a frame reuses the cached embedding; blob layout."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from common.image import encode_image
from cvat_serverless.harness.discovery import load_cases
from cvat_serverless.runtime import LoadedFunction

FOLDER = Path(__file__).parents[1] / "serverless/pytorch/facebookresearch/sam/nuclio"


def _environment(workdir: Path) -> dict[str, str]:
    cases = load_cases(FOLDER)
    assert cases is not None
    return cases.environment(workdir)


def test_second_click_hits_the_cache_and_blob_is_float32(tmp_path: Path) -> None:
    function = LoadedFunction.load(FOLDER, env=_environment(tmp_path))
    try:
        cache = function.context.user_data.model.cache
        image = encode_image(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8))
        first = function.invoke({"image": image, "pos_points": [[50, 60]], "neg_points": []})
        second = function.invoke({"image": image, "pos_points": [[52, 61]], "neg_points": [[5, 5]]})
        blob = function.invoke({"image": image}).json()["blob"]
        assert first.status_code == second.status_code == 200
        assert (cache.misses, cache.hits) == (1, 2)
        features = cache._items[next(iter(cache._items))][0]["features"]
        assert np.allclose(np.frombuffer(base64.b64decode(blob), "<f4"), features.numpy().ravel())
        other = encode_image(np.zeros((120, 160, 3), np.uint8))
        assert function.invoke({"image": other, "pos_points": [[5, 5]]}).status_code == 200
        assert cache.misses == 2
    finally:
        function.close()
