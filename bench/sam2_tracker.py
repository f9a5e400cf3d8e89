"""SAM2 tracker: per-frame cost of continuing 1, 2, 4 objects, SAM2's per-object path vs the shared-frame path.

    .venv/bin/python bench/sam2_tracker.py [--model tiny] [--objects 1,2,4] [--frames 3] [--profile]

The full packaged config with seeded random weights (what the published weights cost) on a 480×360 frame.
Each object's memory is first filled (conditioning frame + the last six, SAM2's steady state); then on
every timed frame both paths continue the same memories, in alternating order:

- ``per object``: the image features once, then SAM2's ``track_step`` per object (the code before issue 14);
- ``shared``: ``Sam2Tracker.step_all``, what the function runs (the frame's first memory self-attention once).

``--profile`` adds the wall time of each SAM2 module on one shared-path frame, and the state round trip of
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

from common.sam2_model import Sam2Memory, Sam2Settings, Sam2Tracker, build_model
from cvat_serverless.harness.discovery import load_cases
from cvat_serverless.harness.sam2_models import write_full_sam2

ROOT = Path(__file__).resolve().parents[1]
FRAMES = ROOT / "serverless/opencv/tracker/nuclio"  # its harness draws 480×360 frames of moving boxes


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
        memories = [memory for _, memory in tracker.step_all(pixels, memories)]
    return memories


def per_frame_ms(tracker: Sam2Tracker, frames: list[np.ndarray], objects: int, timed: int) -> dict[str, list[float]]:
    """ms per frame (image features included) of both paths on ``timed`` frames after the memories are full."""
    memories = _started(tracker, frames, objects)
    times: dict[str, list[float]] = {"per object": [], "shared": []}
    first = int(tracker.model.num_maskmem)
    for offset, pixels in enumerate(frames[first : first + timed]):
        order = ["per object", "shared"] if offset % 2 == 0 else ["shared", "per object"]
        for path in order:
            start = time.perf_counter()
            if path == "per object":
                features = tracker.features(pixels)
                [tracker.step(pixels, _copy(memory), features) for memory in memories]
            else:
                memories = [memory for _, memory in tracker.step_all(pixels, memories)]
            times[path].append((time.perf_counter() - start) * 1000)
    return times


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


def profile(tracker: Sam2Tracker, frames: list[np.ndarray], objects: int) -> None:
    memories = _started(tracker, frames, objects)
    pixels = frames[int(tracker.model.num_maskmem)]
    with module_times(tracker.model) as totals:
        start = time.perf_counter()
        tracker.step_all(pixels, memories)
        total = (time.perf_counter() - start) * 1000
    print(f"\nOne shared-path frame, {objects} object(s), {total:.0f} ms in all:\n\n| module | ms |\n|---|---|")
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
    parser.add_argument("--frames", type=int, default=3, help="timed frames per object count")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    counts = [int(value) for value in args.objects.split(",")]
    cases = load_cases(FRAMES)
    assert cases is not None
    with tempfile.TemporaryDirectory() as workdir:
        checkpoint = write_full_sam2(args.model, Path(workdir) / "sam2.pt")
        env = {"SAM2_MODEL": args.model, "SAM2_CHECKPOINT": str(checkpoint), "CVAT_FN_DEVICE": "cpu"}
        tracker = Sam2Tracker(build_model(Sam2Settings.from_env(env), video=True))
    frames = [cases.frame_image(i) for i in range(int(tracker.model.num_maskmem) + args.frames)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, SAM2 hiera-{args.model}, 480×360\n")
    print(
        "| objects | per object: ms per frame | shared: ms per frame | per object: ms per object | "
        "shared: ms per object | saved |"
    )
    print("|---|---|---|---|---|---|")
    with torch.inference_mode():
        for objects in counts:
            times = per_frame_ms(tracker, frames, objects, args.frames)
            old, new = statistics.median(times["per object"]), statistics.median(times["shared"])
            print(
                f"| {objects} | {old:.0f} | {new:.0f} | {old / objects:.0f} | {new / objects:.0f} | "
                f"{(old - new) / old:.1%} |",
                flush=True,
            )
        if args.profile:
            profile(tracker, frames, max(counts))


if __name__ == "__main__":
    main()
