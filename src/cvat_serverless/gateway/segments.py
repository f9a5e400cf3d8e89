"""Frame and job arithmetic as CVAT 2.73 does it (``engine/task.py``, ``models.Data``, ``JobWriteSerializer``).

Task frame numbers are CVAT's *relative* numbers ``0 .. size-1`` everywhere in the API; the
``start_frame`` / ``stop_frame`` / ``frame_filter`` of the data only choose which uploaded images
become those frames (``ImageListReader``: ``sorted_files[start : stop + 1 : step]``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cvat_serverless.gateway.errors import GatewayError, ValidationFailed
from cvat_serverless.gateway.numbers import to_int

STEP_PATTERN = re.compile(r"step\s*=\s*([1-9]\d*)")
FRAME_SELECTION_METHODS = ("random_uniform", "random_per_job", "manual")
FORMATTED_LIST_LIMIT = 10


def frame_step(frame_filter: str) -> int:
    """``Data.get_frame_step``: the N of ``step=N`` anywhere in the filter, else 1."""
    match = STEP_PATTERN.search(frame_filter or "")
    return int(match.group(1)) if match else 1


@dataclass(frozen=True)
class FrameRange:
    """Which of the sorted uploaded images become task frames, and the data's normalised bounds."""

    start_frame: int
    stop_frame: int
    frame_filter: str
    indices: range

    @property
    def size(self) -> int:
        return len(self.indices)


def validate_data_params(params: Mapping[str, Any]) -> None:
    """``DataSerializer``'s checks of start_frame / stop_frame / frame_filter / chunk_size (400 as CVAT)."""
    errors: dict[str, list[str]] = {}
    for key in ("start_frame", "stop_frame"):
        if key in params and not _is_int(params[key], minimum=0):
            errors[key] = ["A valid integer is required."]
    if "frame_filter" in params and not STEP_PATTERN.search(str(params["frame_filter"] or "")):
        errors["frame_filter"] = ["Invalid frame filter expression"]
    if params.get("chunk_size") is not None and not _is_int(params["chunk_size"], minimum=1):
        errors["chunk_size"] = ["Chunk size must be a positive integer"]
    if errors:
        raise ValidationFailed(errors)
    if "start_frame" in params and "stop_frame" in params and params["start_frame"] > params["stop_frame"]:
        raise ValidationFailed({"non_field_errors": ["Stop frame must be more or equal start frame"]})


def select_frames(count: int, start: int = 0, stop: int = 0, frame_filter: str = "") -> FrameRange:
    """The uploaded images (``count`` of them, sorted) that become frames; ``stop == 0`` means the last one."""
    step = frame_step(frame_filter)
    last = count - 1 if not stop else min(count - 1, stop)
    if count == 0 or last < start:
        raise GatewayError(f"start_frame {start} is past the last of the {count} images", 400)
    indices = range(start, last + 1, step)
    normalized_stop = start + (len(indices) - 1) * step
    return FrameRange(start, normalized_stop if not stop else min(stop, normalized_stop), frame_filter, indices)


def segments(size: int, segment_size: int, overlap: int = 0) -> tuple[int, list[tuple[int, int]]]:
    """``_generate_segment_params``: the effective segment size and each job's (start, stop) frames."""
    if segment_size == 0 or segment_size > size:
        segment_size = size
    overlap = min(overlap, segment_size // 2)
    starts = range(0, size - overlap, segment_size - overlap)
    return segment_size, [(start, min(start + segment_size - 1, size - 1)) for start in starts]


def _is_int(value: Any, minimum: int) -> bool:
    return to_int(value, strings=False, floats=False, minimum=minimum) is not None


def _format_list(items: Sequence[str]) -> str:
    extra = len(items) - FORMATTED_LIST_LIMIT
    return ", ".join(items[:FORMATTED_LIST_LIMIT]) + (f" (and {extra} more)" if extra > 0 else "")


def _one_of(body: Mapping[str, Any], keys: Sequence[str]) -> str:
    given = [key for key in keys if key in body]
    options = ", ".join(f'"{k}"' for k in keys)
    if not given:
        raise ValidationFailed({"non_field_errors": [f"One of the fields {options} required"]})
    if len(given) > 1:
        raise ValidationFailed({"non_field_errors": [f"Only 1 of the fields {options} can be used"]})
    return given[0]


def _rng(seed: Any) -> np.random.Generator:
    # CVAT pins the MT19937 backend so a seed gives the same frames everywhere; so do we.
    return np.random.Generator(np.random.MT19937(seed=seed))


def ground_truth_frames(body: Mapping[str, Any], size: int, segment_size: int, jobs: Sequence[range]) -> list[int]:
    """The frames of a new ground-truth job, chosen as ``JobWriteSerializer.create`` chooses them.

    ``jobs`` are the frame ranges of the task's annotation jobs (for ``random_per_job``).
    """
    method = body.get("frame_selection_method")
    if method not in FRAME_SELECTION_METHODS:
        raise ValidationFailed({"frame_selection_method": [f'"{method}" is not a valid choice.']})
    if "frames" in body and method != "manual":
        raise ValidationFailed(
            {"non_field_errors": ['"frames" can only be used when "frame_selection_method" is "manual"']}
        )
    for key in ("frame_count", "frames_per_job_count"):
        if key in body and not _is_int(body[key], minimum=1):
            raise ValidationFailed({key: ["Ensure this value is greater than or equal to 1."]})
    if "random_seed" in body and not _is_int(body["random_seed"], minimum=0):
        raise ValidationFailed({"random_seed": ["Ensure this value is greater than or equal to 0."]})
    seed = body.get("random_seed")
    if method == "random_uniform":
        key = _one_of(body, ["frame_count", "frame_share"])
        count = body[key] if key == "frame_count" else max(1, int(_share(body, key) * size))
        if count > size:
            limit = f"the number of the task frames ({size})"
            raise ValidationFailed([f"The number of frames requested ({count}) must not be greater than {limit}"])
        return [int(f) for f in _rng(seed).choice(list(range(size)), size=count, shuffle=False, replace=False)]
    if method == "random_per_job":
        key = _one_of(body, ["frames_per_job_count", "frames_per_job_share"])
        if key == "frames_per_job_count":
            count = body[key]
            if count > size:
                limit = f"the segment size ({segment_size})"
                raise ValidationFailed(
                    [f"The number of frames requested ({count}) must be not be greater than {limit}"]
                )
        else:
            count = min(max(1, int(_share(body, key) * segment_size)), size)
        rng, frames = _rng(seed), []
        for job in jobs:
            chosen = set(job).intersection(frames)
            missing = min(len(job), count) - len(chosen)
            if missing > 0:
                pool = tuple(set(job).difference(chosen))
                frames += [int(f) for f in rng.choice(pool, size=missing, replace=False)]
        return frames
    if "frames" not in body:
        raise ValidationFailed({"non_field_errors": ['The "frames" field is required']})
    frames = body["frames"]
    if not isinstance(frames, list) or not frames or not all(_is_int(f, 0) for f in frames):
        raise ValidationFailed({"frames": ["Expected a non-empty list of non-negative integers."]})
    if len(set(frames)) != len(frames):
        raise ValidationFailed(["Frames must not repeat"])
    invalid = sorted(set(frames).difference(range(size)))
    if invalid:
        raise ValidationFailed(
            [f"The following frames do not exist in the task: {_format_list([str(f) for f in invalid])}"]
        )
    return list(frames)


def _share(body: Mapping[str, Any], key: str) -> float:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValidationFailed({key: ["Value must be in the range [0; 1]"]})
    return float(value)
