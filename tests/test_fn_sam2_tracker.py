"""SAM2 tracker state across worker processes: Redis (a real redis-server) vs the in-process store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from common.image import encode_image
from common.tracker import TrackedShape, shape_bitmap, shape_from_bitmap
from cvat_serverless.harness.discovery import load_cases
from cvat_serverless.harness.redis_server import RedisServer
from cvat_serverless.processor import ProcessorHandle, start_processor

FOLDER = Path(__file__).parents[1] / "serverless/pytorch/facebookresearch/sam2-tracker/nuclio"
POLYGON = {"type": "polygon", "points": [40, 30, 89, 30, 89, 69, 40, 69]}


def frame(index: int) -> str:
    image = np.full((120, 160, 3), 40, np.uint8)
    image[30:70, 40 + 3 * index : 90 + 3 * index] = 210
    return encode_image(image)


@pytest.fixture(scope="module")
def tiny_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cases = load_cases(FOLDER)
    assert cases is not None
    return {**cases.environment(tmp_path_factory.mktemp("sam2-tracker")), "CVAT_FN_STATE_SECRET": "shared"}


def processor(env: dict[str, str]) -> ProcessorHandle:
    return start_processor(FOLDER, env=env, num_workers=2)


def track(url: str, frames: int) -> list[httpx.Response]:
    answers = [httpx.post(url, json={"image": frame(0), "shapes": [POLYGON]}, timeout=60)]
    for index in range(1, frames):
        states = answers[-1].json()["states"]
        answers.append(httpx.post(url, json={"image": frame(index), "states": states}, timeout=60))
    return answers


def handled(handle: ProcessorHandle) -> list[int]:
    return [worker["handled"] for worker in handle.status()["workers"]]


@pytest.fixture
def redis_processor(redis_server: RedisServer, tiny_env: dict[str, str]) -> Iterator[ProcessorHandle]:
    env = {**tiny_env, "CVAT_FUNCTIONS_REDIS_HOST": "127.0.0.1", "CVAT_FUNCTIONS_REDIS_PORT": str(redis_server.port)}
    handle = processor(env)
    yield handle
    handle.stop()


def test_two_workers_continue_each_others_objects_through_redis(redis_processor: ProcessorHandle) -> None:
    answers = track(redis_processor.url, 5)
    assert [a.status_code for a in answers] == [200] * 5, answers[-1].text
    assert all(count >= 2 for count in handled(redis_processor)), handled(redis_processor)
    assert all(len(a.json()["states"][0]) < 512 for a in answers)


def test_tracking_survives_a_redis_restart(redis_processor: ProcessorHandle, redis_server: RedisServer) -> None:
    first = track(redis_processor.url, 2)[-1]
    redis_server.restart()
    body = {"image": frame(2), "states": first.json()["states"]}
    answer = httpx.post(redis_processor.url, json=body, timeout=60)
    assert answer.status_code == 200, answer.text


def test_without_redis_another_worker_cannot_continue(tiny_env: dict[str, str]) -> None:
    handle = processor(tiny_env)
    try:
        answers = track(handle.url, 2)
        assert answers[0].status_code == 200
        assert answers[1].status_code == 400 and "unknown or expired" in answers[1].json()["error"]
    finally:
        handle.stop()


def test_shape_bitmaps_round_trip() -> None:
    polygon = TrackedShape(type="polygon", points=(10.0, 10.0, 30.0, 10.0, 30.0, 20.0, 10.0, 20.0))
    bitmap = shape_bitmap(polygon, (40, 50))
    assert bitmap.sum() == 21 * 11
    mask = shape_from_bitmap(bitmap, "mask")
    assert mask is not None and mask["points"][-4:] == [10, 10, 30, 20]
    again = shape_bitmap(TrackedShape(type="mask", points=tuple(mask["points"])), (40, 50))
    assert np.array_equal(again, bitmap)
    assert shape_from_bitmap(np.zeros((40, 50), bool), "polygon") is None
    assert json.dumps(shape_from_bitmap(bitmap, "polygon"))


def test_rectangle_answer_is_the_mask_box_in_continuous_coordinates() -> None:
    bitmap = np.zeros((120, 160), bool)
    bitmap[30:70, 40:90] = True  # pixels 40..89 × 30..69
    assert shape_from_bitmap(bitmap, "rectangle") == {"type": "rectangle", "points": [40.0, 30.0, 90.0, 70.0]}
    assert shape_from_bitmap(np.zeros((4, 4), bool), "rectangle") is None


def test_a_rectangle_whose_mask_vanishes_stays_where_it_was_last_seen(tiny_env: dict[str, str]) -> None:
    """CVAT's UI maps every tracker answer to a box (a null one would throw): keep the last box."""
    from cvat_serverless.runtime import LoadedFunction

    function = LoadedFunction.load(FOLDER, env=tiny_env)
    try:
        start = function.invoke({"image": frame(0), "shapes": [{"type": "rectangle", "points": [40, 30, 90, 70]}]})
        assert start.status_code == 200, start.json()
        (first,) = start.json()["shapes"]
        assert first["type"] == "rectangle"
        model = function.context.user_data.model
        model.tracker.step = lambda pixels, memory, features: (np.zeros(pixels.shape[:2], bool), memory)
        answer = function.invoke({"image": frame(1), "states": start.json()["states"]})
        assert answer.status_code == 200, answer.json()
        assert answer.json()["shapes"] == [first]
    finally:
        function.close()


def test_float16_memory_keeps_the_masks_of_a_float32_memory(tiny_env: dict[str, str]) -> None:
    """Stored memory is float16 (SAM2's own video predictor keeps bfloat16): the bound on what it changes.

    Six frames of a moving square, tracked twice from the same start: once with the memory round-tripped
    through the state (float16, positional encoding stored once) at every frame, once with the float32
    memory kept in this process. Bound: every frame's mask IoU ≥ 0.98 (pixel-exact masks give 1.0).
    """
    import torch

    from common.image import to_array
    from common.sam2_model import Sam2Memory
    from cvat_serverless.runtime import LoadedFunction

    function = LoadedFunction.load(FOLDER, env=tiny_env)
    try:
        tracker = function.context.user_data.model.tracker
        frames = [to_array(_decode(frame(i))) for i in range(6)]
        start = np.zeros((120, 160), bool)
        start[30:70, 40:90] = True
        with torch.inference_mode():
            _, kept = tracker.start(frames[0], start)
            _, stored = tracker.start(frames[0], start)
            ious, sizes, areas = [], [], []
            for pixels in frames[1:]:
                mask_kept, kept = tracker.step(pixels, kept)
                data, arrays = stored.to_state()
                sizes.append(sum(a.nbytes for a in arrays.values()))
                restored = Sam2Memory.from_state(data, arrays, tracker.device)
                mask_stored, stored = tracker.step(pixels, restored)
                union = np.logical_or(mask_kept, mask_stored).sum()
                ious.append(1.0 if union == 0 else np.logical_and(mask_kept, mask_stored).sum() / union)
                areas.append(int(mask_kept.sum()))
    finally:
        function.close()
    assert all(s > 0 for s in areas), areas  # masks to compare (random weights, but not empty)
    assert min(ious) >= 0.98, ious
    full = sum(out["maskmem_features"].numel() * 4 * 2 + out["obj_ptr"].numel() * 4 for out in kept.outputs.values())
    assert sizes[-1] <= full / 2, (sizes[-1], full)  # at most half of float32 features + per-frame encodings


def _decode(encoded: str):
    from common.image import decode_image

    return decode_image(encoded)


def test_starting_an_object_on_the_frame_just_tracked_reuses_its_features(tiny_env: dict[str, str]) -> None:
    """CVAT's flow when a user adds or corrects an object while others are tracked: on the next frame change its
    UI starts that object on the previous frame (``init_tracking``, ``frame - 1``), which the last ``track`` call
    encoded. The features come from the cache, and the answers equal those of a function encoding it afresh."""
    from cvat_serverless.runtime import LoadedFunction

    function = LoadedFunction.load(FOLDER, env=tiny_env)
    fresh = LoadedFunction.load(FOLDER, env=tiny_env)
    try:
        started = function.invoke({"image": frame(0), "shapes": [POLYGON]}).json()
        assert function.invoke({"image": frame(1), "states": started["states"]}).status_code == 200
        frames = function.context.user_data.model.frames
        assert (frames.hits, frames.misses) == (0, 2)
        added = {"image": frame(1), "shapes": [{"type": "polygon", "points": [43, 30, 92, 30, 92, 69, 43, 69]}]}
        cached, encoded = function.invoke(added), fresh.invoke(added)
        assert (frames.hits, frames.misses) == (1, 2)
        assert cached.status_code == encoded.status_code == 200, cached.body[:300]
        assert cached.json()["shapes"] == encoded.json()["shapes"] and cached.json()["shapes"][0] is not None
        after_cached = function.invoke({"image": frame(2), "states": cached.json()["states"]}).json()
        after_encoded = fresh.invoke({"image": frame(2), "states": encoded.json()["states"]}).json()
        assert after_cached["shapes"] == after_encoded["shapes"]
    finally:
        function.close()
        fresh.close()
