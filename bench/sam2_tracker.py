"""SAM2 tracker: per-frame cost of continuing 1, 2, 4 objects, and of CVAT's add-an-object flow with the frame cache.

    .venv/bin/python bench/sam2_tracker.py [--model tiny] [--objects 1,2,4] [--frames 3] [--profile]

The full packaged config with seeded random weights (what the published weights cost) on a 480×360 frame.
Each object's memory is first filled (conditioning frame + the last six, SAM2's steady state); then every
timed frame continues copies of the same memories: the image features once, then SAM2's ``track_step``
per object, as the function runs it.

Then CVAT's flow when a user adds an object while others are tracked: its UI starts the object on the
previous frame (``init_tracking``), which the last ``track`` call encoded, then tracks all of them on the
next frame; through the function, with the frame cache (``SAM2_TRACKER_FRAMES=2``) and without it (``0``).

``--profile`` adds the wall time of each SAM2 module on one frame, and the state round trip of
one object through a real redis-server (float16 ↔ float32, pack/unpack, SET/GET).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from common.image import encode_image
from common.sam2_model import Sam2Memory, Sam2Settings, Sam2Tracker, build_model
from cvat_serverless.harness.discovery import load_cases
from cvat_serverless.harness.sam2_models import write_full_sam2
from cvat_serverless.runtime import LoadedFunction

ROOT = Path(__file__).resolve().parents[1]
FRAMES = ROOT / "serverless/opencv/tracker/nuclio"  # its harness draws 480×360 frames of moving boxes
SAM2_TRACKER = ROOT / "serverless/pytorch/facebookresearch/sam2-tracker/nuclio"


def _copy(memory: Sam2Memory) -> Sam2Memory:
    return Sam2Memory(memory.frame, dict(memory.outputs), memory.cond_frame)


def _started(tracker: Sam2Tracker, frames: list[np.ndarray], objects: int) -> list[Sam2Memory]:
    """``objects`` boxes started on frame 0 and stepped until their memory is full."""
    features = tracker.features(frames[0])
    memories = [
        tracker.start(frames[0], box=(60.0 + 70 * k, 40.0, 120.0 + 70 * k, 100.0), features=features)[1]
        for k in range(objects)
    ]
    for pixels in frames[1 : int(tracker.model.num_maskmem)]:
        memories = step_all(tracker, pixels, memories)
    return memories


def step_all(tracker: Sam2Tracker, pixels: np.ndarray, memories: list[Sam2Memory]) -> list[Sam2Memory]:
    """Every object into this frame, the frame encoded once (as the function does)."""
    features = tracker.features(pixels)
    return [tracker.step(pixels, memory, features)[1] for memory in memories]


def per_frame_ms(
    tracker: Sam2Tracker, frames: list[np.ndarray], memories: list[Sam2Memory], counts: list[int]
) -> dict[int, list[float]]:
    """ms per frame (image features included) by number of objects, on each of ``frames``; every timed call
    continues copies of the first ``objects`` full memories (a full memory stays full)."""
    times: dict[int, list[float]] = defaultdict(list)
    for pixels in frames[int(tracker.model.num_maskmem) :]:
        for objects in counts:
            copies = [_copy(memory) for memory in memories[:objects]]
            start = time.perf_counter()
            step_all(tracker, pixels, copies)
            times[objects].append((time.perf_counter() - start) * 1000)
    return times


def added_object_ms(env: dict[str, str], frames: list[np.ndarray], tracked: int, rounds: int) -> list[float]:
    """ms of CVAT's two calls when an object is added next to ``tracked`` ones: init on the frame the last
    track call encoded, then track on the next frame (median over ``rounds`` additions)."""
    images = [encode_image(pixels) for pixels in frames]
    box = {"type": "rectangle", "points": [300.0, 200.0, 360.0, 260.0]}
    boxes = [{"type": "rectangle", "points": [60.0 + 70 * k, 40.0, 120.0 + 70 * k, 100.0]} for k in range(tracked)]
    function = LoadedFunction.load(SAM2_TRACKER, env=env)
    try:
        states = function.invoke({"image": images[0], "shapes": boxes}).json()["states"]
        init, track = [], []
        for index in range(1, 1 + 2 * rounds, 2):
            states = function.invoke({"image": images[index], "states": states}).json()["states"]
            start = time.perf_counter()
            added = function.invoke({"image": images[index], "shapes": [box]}).json()["states"]
            middle = time.perf_counter()
            states = function.invoke({"image": images[index + 1], "states": states + added}).json()["states"]
            states = states[:tracked]  # the next round adds its object next to the same ones
            init.append((middle - start) * 1000)
            track.append((time.perf_counter() - middle) * 1000)
    finally:
        function.close()
    return [statistics.median(init), statistics.median(track)]


@contextmanager
def module_times(model: Any) -> Iterator[dict[str, float]]:
    """Wall ms spent in SAM2's modules (forward hooks), by name."""
    inner = model.memory_attention.attention
    watched = {
        "image encoder": model.image_encoder,
        "memory attention, per object": model.memory_attention,
        "  cross-attentions to the memory": [layer.cross_attn_image for layer in inner.layers],
        "  self-attentions": [layer.self_attn for layer in inner.layers],
        "  MLPs": [module for layer in inner.layers for module in (layer.linear1, layer.linear2)],
        "memory encoder": model.memory_encoder,
        "prompt encoder + mask decoder": [model.sam_prompt_encoder, model.sam_mask_decoder],
    }
    totals: dict[str, float] = defaultdict(float)
    handles = []
    for name, modules in watched.items():
        for module in modules if isinstance(modules, list) else [modules]:
            started: list[float] = []

            def before(*_: Any, started: list[float] = started) -> None:
                started.append(time.perf_counter())

            def after(*_: Any, started: list[float] = started, name: str = name) -> None:
                totals[name] += (time.perf_counter() - started.pop()) * 1000

            handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    try:
        yield totals
    finally:
        for handle in handles:
            handle.remove()


def profile(tracker: Sam2Tracker, frames: list[np.ndarray], memories: list[Sam2Memory]) -> None:
    objects = len(memories)
    pixels = frames[int(tracker.model.num_maskmem)]
    with module_times(tracker.model) as totals:
        start = time.perf_counter()
        step_all(tracker, pixels, memories)
        total = (time.perf_counter() - start) * 1000
    print(f"\nOne frame, {objects} object(s), {total:.0f} ms in all:\n\n| module | ms |\n|---|---|")
    for name, ms in totals.items():
        print(f"| {name} | {ms:.0f} |")
    print(f"\nState of one object (7-frame memory) through a real redis-server:\n\n{state_round_trip(memories[0])}")


def state_round_trip(memory: Sam2Memory) -> str:
    """ms of to_state, save (pack + SET), load (GET + unpack) and from_state for one object's memory."""
    from common.state_store import RedisStore, ReferenceStates
    from common.tracker_state import StateCodec
    from cvat_serverless.harness.redis_server import RedisServer

    redis = RedisServer().start()
    try:
        states = ReferenceStates(StateCodec("bench", b"bench-only-secret"), RedisStore("127.0.0.1", redis.port))
        times: dict[str, list[float]] = defaultdict(list)
        token = None
        for _ in range(5):
            marks = [time.perf_counter()]
            data, arrays = memory.to_state()
            marks.append(time.perf_counter())
            token = states.save(data, arrays, token=token)
            marks.append(time.perf_counter())
            loaded = states.load(token)
            marks.append(time.perf_counter())
            Sam2Memory.from_state(*loaded, memory.outputs[memory.cond_frame]["obj_ptr"].device)
            marks.append(time.perf_counter())
            for name, begin, end in zip(("to_state", "save", "load", "from_state"), marks, marks[1:], strict=False):
                times[name].append((end - begin) * 1000)
        size = sum(array.nbytes for array in arrays.values())
    finally:
        redis.close()
    rows = " | ".join(f"{statistics.median(values):.1f}" for values in times.values())
    return f"| bytes | to_state ms | save ms | load ms | from_state ms |\n|---|---|---|---|---|\n| {size:,} | {rows} |"


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--objects", default="1,2,4")
    parser.add_argument("--frames", type=int, default=5, help="timed frames")
    parser.add_argument("--rounds", type=int, default=2, help="objects added in turn, for the CVAT flow")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    counts = [int(value) for value in args.objects.split(",")]
    cases = load_cases(FRAMES)
    assert cases is not None
    workdir = tempfile.TemporaryDirectory()
    checkpoint = write_full_sam2(args.model, Path(workdir.name) / "sam2.pt")
    env = {"SAM2_MODEL": args.model, "SAM2_CHECKPOINT": str(checkpoint), "CVAT_FN_DEVICE": "cpu"}
    tracker = Sam2Tracker(build_model(Sam2Settings.from_env(env), video=True))
    frames = [cases.frame_image(i) for i in range(int(tracker.model.num_maskmem) + args.frames)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, SAM2 hiera-{args.model}, 480×360\n")
    print("| objects | ms per frame, best (median) | ms per object, best |\n|---|---|---|")
    with torch.inference_mode():
        memories = _started(tracker, frames, max(counts))
        times = per_frame_ms(tracker, frames, memories, counts)
    for objects in counts:
        ms = times[objects]
        print(f"| {objects} | {min(ms):.0f} ({statistics.median(ms):.0f}) | {min(ms) / objects:.0f} |", flush=True)
    print("\n| an object added next to 1 tracked | init ms | track ms (2 objects) | both |\n|---|---|---|---|")
    for cache in ("0", "2"):
        init, track = added_object_ms({**env, "SAM2_TRACKER_FRAMES": cache}, frames, 1, args.rounds)
        print(f"| SAM2_TRACKER_FRAMES={cache} | {init:.0f} | {track:.0f} | {init + track:.0f} |", flush=True)
    if args.profile:
        with torch.inference_mode():
            profile(tracker, frames, memories)
    workdir.cleanup()


if __name__ == "__main__":
    main()
