"""What one ``/api/lambda/requests`` job does: annotate a whole task (detector) or chain boxes into tracks (ReID)."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from cvat_serverless.gateway.calls import Caller, call_online
from cvat_serverless.gateway.errors import BadRequest
from cvat_serverless.gateway.functions import LambdaFunction

SAVE_EVERY_FRAMES = 100


class Reporter(Protocol):
    """How a job reports progress and learns that it was cancelled."""

    def progress(self, percent: int) -> None: ...

    def cancelled(self) -> bool: ...


def run_request(caller: Caller, params: Mapping[str, Any], reporter: Reporter) -> None:
    """Run one request to the end, or until cancelled (results so far are kept)."""
    function = caller.nuclio.get(str(params["function"]))
    task_id = int(params["task"])
    if params.get("cleanup"):
        caller.store.clear_annotations(task_id)
    if params.get("action") == "track":
        _track(caller, function, task_id, params, reporter)
    elif function.kind == "detector":
        _annotate(caller, function, task_id, params, reporter)
    elif function.kind == "reid":
        _chain_tracks(caller, function, task_id, params, reporter)
    reporter.progress(100)


def frames_in_flight(function: LambdaFunction) -> int:
    """How many frames a whole-task request keeps in flight: the function's workers + 2.

    The extra frames wait in the processor's queue, so a worker never idles while the gateway
    converts and stores the previous answer; results are still taken in frame order.
    ``CVAT_GATEWAY_FRAMES_IN_FLIGHT`` overrides it (1 = strictly one frame at a time, as CVAT does).
    """
    override = os.environ.get("CVAT_GATEWAY_FRAMES_IN_FLIGHT")
    return max(1, int(override)) if override else function.workers + 2


def _annotate(
    caller: Caller, function: LambdaFunction, task_id: int, params: Mapping[str, Any], reporter: Reporter
) -> None:
    mapping = caller.mapping_for(function, task_id, params.get("mapping"))
    size = caller.store.task(task_id)["size"]
    threshold, conv, roi = params.get("threshold"), bool(params.get("conv_mask_to_poly")), params.get("roi")
    pending: dict[str, list[dict[str, Any]]] = {"tags": [], "shapes": []}
    depth = frames_in_flight(function)
    with ThreadPoolExecutor(max_workers=depth, thread_name_prefix="frames") as pool:
        window: deque[Future[dict[str, list[dict[str, Any]]]]] = deque()
        submitted = 0
        for frame in range(size):
            while submitted < size and len(window) < depth:
                window.append(pool.submit(caller.detect, function, task_id, submitted, mapping, threshold, conv, roi))
                submitted += 1
            found = window.popleft().result()
            pending["tags"] += found["tags"]
            pending["shapes"] += found["shapes"]
            reporter.progress(int((frame + 1) / size * 100))
            if frame and frame % SAVE_EVERY_FRAMES == 0:
                caller.store.change_annotations(task_id, pending, "create")
                pending = {"tags": [], "shapes": []}
            if reporter.cancelled():
                for future in window:
                    future.cancel()
                break
    caller.store.change_annotations(task_id, pending, "create")


def _chain_tracks(caller: Caller, function: Any, task_id: int, params: Mapping[str, Any], reporter: Reporter) -> None:
    annotations = caller.store.annotations(task_id)
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
    for frame in range(size - 1):
        boxes0, boxes1 = boxes.get(frame, []), boxes.get(frame + 1, [])
        if boxes0 and boxes1:
            payload = {"task": task_id, "frame0": frame, "frame1": frame + 1, "boxes0": boxes0, "boxes1": boxes1}
            for key in ("threshold", "max_distance"):
                if params.get(key):
                    payload[key] = params[key]
            matches = call_online(caller, function, payload)
            for index, match in enumerate(matches if isinstance(matches, list) else []):
                if isinstance(match, int) and 0 <= match < len(boxes1):
                    target = boxes1[match]
                    if path_of[target["id"]] == target["id"] and len(paths[target["id"]]) == 1:
                        path = path_of[boxes0[index]["id"]]
                        paths[path].append(target)
                        del paths[target["id"]]
                        path_of[target["id"]] = path
        reporter.progress(int((frame + 1) / max(size, 1) * 100))
        if reporter.cancelled():
            return
    tracks = [_path_to_track(path, size) for path in paths.values()]
    if tracks:
        kept = [s for s in annotations["shapes"] if s.get("type") != "rectangle"]
        caller.store.change_annotations(
            task_id, {"tags": annotations["tags"], "shapes": kept, "tracks": annotations["tracks"] + tracks}, "put"
        )


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
    caller: Caller, function: LambdaFunction, task_id: int, params: Mapping[str, Any], reporter: Reporter
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
    _save_tracked(caller, task_id, sources, found, bool(params.get("convert_polygons_to_tracks")))


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
            converted.append({"id": source["id"]})
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
