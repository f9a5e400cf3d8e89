"""What one ``/api/lambda/requests`` job does: annotate a whole task (detector) or chain boxes into tracks (ReID)."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Protocol

from cvat_serverless.gateway.calls import Caller, call_online
from cvat_serverless.gateway.errors import BadRequest, GatewayError
from cvat_serverless.gateway.functions import LambdaFunction
from cvat_serverless.gateway.jobstore import job_frames

LOG = logging.getLogger("cvat_serverless.gateway")
SAVE_EVERY_FRAMES = 100
"""Pending annotations are saved when the frame number is a multiple of this (CVAT's cadence);
``CVAT_GATEWAY_SAVE_EVERY_FRAMES`` changes it. Each save is a checkpoint a request resumes from."""
MAX_RESUMES = 3
"""How many times a request is resumed after what ran it died; the next death fails it."""
FRAME_RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0)
"""Waits before each new attempt at a frame whose call failed on the function's side (5xx: a worker
or processor died and is being restarted, no worker free, a timeout): five attempts over ~15 s,
enough for the platform to restart a processor and reload its model. ``CVAT_GATEWAY_FRAME_ATTEMPTS``
sets the number of attempts (1 = no retry, as CVAT)."""


class FrameFailed(GatewayError):
    """A frame kept failing; the frames before it are saved. Its message is the request's error."""


class RequestInterrupted(Exception):
    """The process running the request is stopping: the request stops without writing what it has
    not saved yet, and is resumed from its checkpoint when a queue runs it again."""


def save_every_frames() -> int:
    raw = os.environ.get("CVAT_GATEWAY_SAVE_EVERY_FRAMES")
    return max(1, int(raw)) if raw else SAVE_EVERY_FRAMES


def frame_attempts() -> int:
    raw = os.environ.get("CVAT_GATEWAY_FRAME_ATTEMPTS")
    return max(1, int(raw)) if raw else len(FRAME_RETRY_DELAYS_S) + 1


def _retrying(call: Any, frame: int, cancelled: Any, refresh: Any) -> Any:
    """``call()``, tried again after a 5xx from the function's side (``refresh()`` first: a restarted
    processor listens on a new port); a 4xx (the request's own fault) is final."""
    attempts = frame_attempts()
    for attempt in range(attempts):
        try:
            return call()
        except GatewayError as error:
            if error.status < 500 or attempt + 1 >= attempts or cancelled():
                raise FrameFailed(
                    f"frame {frame} failed after {attempt + 1} attempt(s): {error.message}", error.status
                ) from error
            LOG.warning("frame %s failed (%s); attempt %s of %s", frame, error.message, attempt + 2, attempts)
            time.sleep(FRAME_RETRY_DELAYS_S[min(attempt, len(FRAME_RETRY_DELAYS_S) - 1)])
            with contextlib.suppress(GatewayError):
                refresh()
    raise AssertionError("unreachable")


class Reporter(Protocol):
    """How a job reports progress and learns that it was cancelled.

    ``cancelled()`` is True after a DELETE (the job stops and keeps what it did); it raises
    :class:`RequestInterrupted` when the process running the job is stopping."""

    def progress(self, percent: int) -> None: ...

    def cancelled(self) -> bool: ...


@dataclass(frozen=True)
class Target:
    """What a request works on, as CVAT's ``LambdaJob._get_frame_set`` picks it.

    With a job: that job's frames, results saved into that job. Without: every task frame, results
    sliced into the task's annotation jobs (a ground-truth job is never written or cleaned).
    """

    task_id: int
    job_id: int | None
    frames: list[int]

    @classmethod
    def of(cls, caller: Caller, params: Mapping[str, Any]) -> Target:
        if params.get("job") is not None:
            job = caller.store.job(int(params["job"]))
            return cls(int(job["task_id"]), int(job["id"]), job_frames(job))
        task_id = int(params["task"])
        return cls(task_id, None, list(range(int(caller.store.task(task_id)["size"]))))

    def annotations(self, caller: Caller) -> dict[str, Any]:
        if self.job_id is not None:
            return caller.store.job_annotations(self.job_id)
        return caller.store.annotations(self.task_id)

    def save(self, caller: Caller, data: Mapping[str, Any], action: str = "create") -> None:
        if self.job_id is not None:
            caller.store.change_job_annotations(self.job_id, data, action)
        else:
            caller.store.change_annotations(self.task_id, data, action)

    def clear(self, caller: Caller) -> None:
        if self.job_id is not None:
            caller.store.clear_job_annotations(self.job_id)
        else:
            caller.store.clear_annotations(self.task_id)


def run_request(caller: Caller, params: Mapping[str, Any], reporter: Reporter, request_id: str) -> None:
    """Run one request to the end, or until cancelled (results so far are kept).

    Run again under the same ``request_id`` (after what ran it died), it goes on from its
    checkpoint: the cleanup is not done again, the frames it saved are not run again, and a
    request whose writes are all done writes nothing more. Tracking and ReID write once, at the
    end, so they run again from the start unless that write was done.
    """
    function = caller.nuclio.get(str(params["function"]))
    target = Target.of(caller, params)
    saved = caller.store.checkpoint(request_id)
    if saved is None:
        with caller.store.transaction():
            if params.get("cleanup"):
                target.clear(caller)
            caller.store.set_checkpoint(request_id, 0)
    elif saved.finished:
        reporter.progress(100)
        return
    if params.get("action") == "track":
        _track(caller, function, target.task_id, params, reporter, request_id)
    elif function.kind == "detector":
        _annotate(caller, function, target, params, reporter, Resume(request_id, saved.done if saved else 0))
    elif function.kind == "reid":
        _chain_tracks(caller, function, target, params, reporter, request_id)
    else:
        caller.store.set_checkpoint(request_id, 0, finished=True)
    reporter.progress(100)


@dataclass(frozen=True)
class Resume:
    """Which request a detector run saves its checkpoints for, and how many target frames were saved."""

    request_id: str
    done: int

    def save(self, caller: Caller, target: Target, data: Mapping[str, Any], done: int, finished: bool) -> None:
        """Save ``data`` and the checkpoint in one transaction: both are kept, or neither."""
        with caller.store.transaction():
            target.save(caller, data)
            caller.store.set_checkpoint(self.request_id, done, finished)


def frames_in_flight(function: LambdaFunction) -> int:
    """How many frames a whole-task request keeps in flight: the function's workers + 2.

    The extra frames wait in the processor's queue, so a worker never idles while the gateway
    converts and stores the previous answer; results are still taken in frame order.
    ``CVAT_GATEWAY_FRAMES_IN_FLIGHT`` overrides it (1 = strictly one frame at a time, as CVAT does).
    """
    override = os.environ.get("CVAT_GATEWAY_FRAMES_IN_FLIGHT")
    return max(1, int(override)) if override else function.workers + 2


def _annotate(
    caller: Caller,
    function: LambdaFunction,
    target: Target,
    params: Mapping[str, Any],
    reporter: Reporter,
    resume: Resume,
) -> None:
    task_id, frames = target.task_id, target.frames[resume.done :]
    mapping = caller.mapping_for(function, task_id, params.get("mapping"))
    size = caller.store.task(task_id)["size"]
    threshold, conv, roi = params.get("threshold"), bool(params.get("conv_mask_to_poly")), params.get("roi")
    pending: dict[str, list[dict[str, Any]]] = {"tags": [], "shapes": []}
    depth, every = frames_in_flight(function), save_every_frames()
    done = resume.done
    with ThreadPoolExecutor(max_workers=depth, thread_name_prefix="frames") as pool:
        window: deque[Future[dict[str, list[dict[str, Any]]]]] = deque()
        queued = iter(frames)

        current = [function]  # the function as the dashboard last described it (its port can change)

        def refresh() -> None:
            current[0] = caller.nuclio.get(function.id)

        def detect(frame: int) -> dict[str, list[dict[str, Any]]]:
            def once() -> dict[str, list[dict[str, Any]]]:
                return caller.detect(current[0], task_id, frame, mapping, threshold, conv, roi)

            return _retrying(once, frame, reporter.cancelled, refresh)

        try:
            for frame in frames:
                for ahead in queued:
                    window.append(pool.submit(detect, ahead))
                    if len(window) >= depth:
                        break
                found = window.popleft().result()
                pending["tags"] += found["tags"]
                pending["shapes"] += found["shapes"]
                done += 1
                # CVAT's progress is the frame number over the task size, also for a job's frames
                reporter.progress(int((frame + 1) / size * 100))
                if frame and frame % every == 0:
                    resume.save(caller, target, pending, done, finished=False)
                    pending = {"tags": [], "shapes": []}
                if reporter.cancelled():
                    break
        except FrameFailed as error:
            # Keep every frame already done, as a cancel does, and say what failed and what was kept.
            resume.save(caller, target, pending, done, finished=False)
            kept = "no frame was done" if done == 0 else f"the frames up to {target.frames[done - 1]} are saved"
            raise FrameFailed(f"{error.message}; {kept}", error.status) from error
        finally:
            for future in window:
                future.cancel()
    resume.save(caller, target, pending, done, finished=True)


def _chain_tracks(
    caller: Caller, function: Any, target: Target, params: Mapping[str, Any], reporter: Reporter, request_id: str
) -> None:
    task_id, frames = target.task_id, target.frames
    annotations = target.annotations(caller)
    size = caller.store.task(task_id)["size"]
    boxes: dict[int, list[dict[str, Any]]] = {}
    for shape in annotations["shapes"]:
        if shape.get("type") == "rectangle":
            boxes.setdefault(int(shape["frame"]), []).append(shape)
    paths: dict[int, list[dict[str, Any]]] = {}
    path_of: dict[int, int] = {}
    for box in (b for frame in sorted(boxes) for b in boxes[frame]):
        path_of[box["id"]] = box["id"]
        paths[box["id"]] = [box]
    for done, (frame, following) in enumerate(pairwise(frames), start=1):
        boxes0, boxes1 = boxes.get(frame, []), boxes.get(following, [])
        if boxes0 and boxes1:
            payload = {"task": task_id, "frame0": frame, "frame1": following, "boxes0": boxes0, "boxes1": boxes1}
            for key in ("threshold", "max_distance"):
                if params.get(key):
                    payload[key] = params[key]
            matches = call_online(caller, function, payload)
            for index, match in enumerate(matches if isinstance(matches, list) else []):
                if isinstance(match, int) and 0 <= match < len(boxes1):
                    target_box = boxes1[match]
                    if path_of[target_box["id"]] == target_box["id"] and len(paths[target_box["id"]]) == 1:
                        path = path_of[boxes0[index]["id"]]
                        paths[path].append(target_box)
                        del paths[target_box["id"]]
                        path_of[target_box["id"]] = path
        reporter.progress(int(done / max(len(frames), 1) * 100))
        if reporter.cancelled():
            return
    tracks = [_path_to_track(path, size) for path in paths.values()]
    with caller.store.transaction():
        if tracks:
            kept = [s for s in annotations["shapes"] if s.get("type") != "rectangle"]
            body = {"tags": annotations["tags"], "shapes": kept, "tracks": annotations["tracks"] + tracks}
            target.save(caller, body, "put")
        caller.store.set_checkpoint(request_id, len(frames), finished=True)


def _path_to_track(path: list[dict[str, Any]], size: int) -> dict[str, Any]:
    shapes = [
        {
            "type": "rectangle",
            "frame": box["frame"],
            "points": box["points"],
            "outside": False,
            "occluded": bool(box.get("occluded", False)),
            "z_order": int(box.get("z_order", 0)),
            "rotation": float(box.get("rotation", 0.0)),
            "attributes": box.get("attributes", []),
        }
        for box in path
    ]
    last = path[-1]["frame"]
    if last + 1 < size:
        shapes.append({**shapes[-1], "frame": last + 1, "outside": True})
    first = path[0]
    return {
        "label_id": first["label_id"],
        "frame": first["frame"],
        "group": 0,
        "source": "auto",
        "attributes": [],
        "shapes": shapes,
    }


def _track(
    caller: Caller,
    function: LambdaFunction,
    task_id: int,
    params: Mapping[str, Any],
    reporter: Reporter,
    request_id: str,
) -> None:
    """The tracking action: follow shapes of frame A up to frame B with a tracker, save shapes or tracks."""
    if function.kind != "tracker":
        raise BadRequest(f"{function.id} is a {function.kind}; tracking needs a tracker")
    start, stop = int(params["frame"]), int(params["target_frame"])
    size = caller.store.task(task_id)["size"]
    if not 0 <= start < stop < size:
        raise BadRequest(f"frames must satisfy 0 <= frame < target_frame < {size}, got {start} and {stop}")
    supported = function.supported_shape_types or ["rectangle"]
    wanted = set(params.get("shape_ids") or [])
    sources = [
        shape
        for shape in caller.store.annotations(task_id)["shapes"]
        if shape["frame"] == start and shape["type"] in supported and (not wanted or shape["id"] in wanted)
    ]
    if not sources:
        raise BadRequest(f"frame {start} has no shapes of the types {function.id} tracks ({', '.join(supported)})")
    init = [{"type": shape["type"], "points": shape["points"]} for shape in sources]
    answer = call_online(caller, function, {"task": task_id, "frame": start, "shapes": init})
    found: list[list[tuple[int, Any]]] = [[] for _ in sources]
    for done, frame in enumerate(range(start + 1, stop + 1), start=1):
        answer = call_online(caller, function, {"task": task_id, "frame": frame, "states": answer["states"]})
        for index, shape in enumerate(answer["shapes"]):
            found[index].append((frame, shape))
        reporter.progress(int(done / (stop - start) * 100))
        if reporter.cancelled():
            break
    with caller.store.transaction():
        _save_tracked(caller, task_id, sources, found, bool(params.get("convert_polygons_to_tracks")))
        caller.store.set_checkpoint(request_id, stop - start, finished=True)


def _save_tracked(
    caller: Caller,
    task_id: int,
    sources: list[dict[str, Any]],
    found: list[list[tuple[int, Any]]],
    convert_polygons: bool,
) -> None:
    shapes, tracks, converted = [], [], []
    for source, results in zip(sources, found, strict=True):
        common = {"label_id": source["label_id"], "source": "semi-auto", "attributes": source.get("attributes", [])}
        if convert_polygons and source["type"] == "polygon":
            keyframes = [{"frame": source["frame"], "type": "polygon", "points": source["points"], "outside": False}]
            for frame, shape in results:
                if shape is None:
                    keyframes.append({**keyframes[-1], "frame": frame, "outside": True})
                    break
                keyframes.append({"frame": frame, "type": shape["type"], "points": shape["points"], "outside": False})
            for keyframe in keyframes:
                keyframe.update(occluded=False, z_order=0, rotation=0.0, attributes=[])
            tracks.append({**common, "frame": source["frame"], "group": 0, "shapes": keyframes})
            converted.append(source)  # a delete names whole objects, as CVAT's serializer wants
            continue
        for frame, shape in results:
            if shape is not None:
                shapes.append(
                    {**common, "frame": frame, "type": shape["type"], "points": shape["points"], "group": 0}
                    | {"occluded": False, "outside": False, "z_order": 0, "rotation": 0.0}
                )
    caller.store.change_annotations(task_id, {"shapes": shapes, "tracks": tracks}, "create")
    if converted:
        caller.store.change_annotations(task_id, {"shapes": converted}, "delete")
