"""Segment Anything: CVAT's id always answers the plugin's blob; the masks id decodes on the server; one cache."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from common.image import encode_image
from cvat_serverless.harness import cvat_core
from cvat_serverless.harness.sam_models import tiny_sam_env
from cvat_serverless.runtime import LoadedFunction

ROOT = Path(__file__).parents[1] / "serverless/pytorch/facebookresearch"
BLOB = ROOT / "sam/nuclio"
MASKS = ROOT / "sam-masks/nuclio"


def test_plugin_id_answers_the_blob_for_clicks_and_reuses_the_embedding(tmp_path: Path) -> None:
    function = LoadedFunction.load(BLOB, env=tiny_sam_env(tmp_path))
    try:
        assert function.spec.name == "pth-facebookresearch-sam-vit-h"  # the id CVAT's SAM plugin engages on
        cache = function.context.user_data.model.cache
        image = encode_image(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8))
        first = function.invoke({"image": image, "pos_points": [[50, 60]], "neg_points": []})
        second = function.invoke({"image": image, "pos_points": [[52, 61]], "neg_points": [[5, 5]]})
        third = function.invoke({"image": image, "pos_points": [], "neg_points": [], "obj_bbox": [[1, 2], [90, 80]]})
        assert first.status_code == second.status_code == third.status_code == 200
        assert first.json().keys() == {"blob"} and first.json() == second.json() == third.json()
        assert (cache.misses, cache.hits) == (1, 2)
        features = cache._items[next(iter(cache._items))][0]["features"]
        assert np.allclose(np.frombuffer(base64.b64decode(first.json()["blob"]), "<f4"), features.numpy().ravel())
        other = encode_image(np.zeros((120, 160, 3), np.uint8))
        assert function.invoke({"image": other, "pos_points": [[5, 5]]}).status_code == 200
        assert cache.misses == 2
    finally:
        function.close()


def test_masks_id_answers_cvat_shapes_where_the_object_is(tmp_path: Path) -> None:
    function = LoadedFunction.load(MASKS, env=tiny_sam_env(tmp_path))
    try:
        assert function.spec.name == "pth-facebookresearch-sam-vit-h-masks"
        image = encode_image(np.random.default_rng(1).integers(0, 255, (120, 160, 3), dtype=np.uint8))
        answer = function.invoke({"image": image, "pos_points": [[120, 90]], "neg_points": []})
        assert answer.status_code == 200, answer.json()
        placed = cvat_core.place(answer.json(), 160, 120)
        assert len(placed) == 1 and placed[0].bitmap.any()
        assert placed[0].confidence is not None and 0 <= placed[0].confidence <= 1
        assert function.invoke({"image": image, "pos_points": []}).status_code == 400
    finally:
        function.close()
