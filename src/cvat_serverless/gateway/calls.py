"""Building function payloads from CVAT requests and shaping the answers (contract §4, §6)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, TimestampSigner

from cvat_serverless.gateway.errors import BadRequest, GatewayError
from cvat_serverless.gateway.functions import LambdaFunction
from cvat_serverless.gateway.mapping import MappedLabel, convert_detections, resolve_mapping
from cvat_serverless.gateway.nuclio import NuclioClient
from cvat_serverless.gateway.store import TaskStore

TRACKER_STATE_MAX_AGE_S = 8 * 3600


@dataclass
class Caller:
    """What an online or offline call needs: the dashboard client, the task store and the state secret."""

    nuclio: NuclioClient
    store: TaskStore
    secret: str

    def image(self, task_id: int, frame: Any) -> str:
        """Base64 of the stored original bytes of a task frame."""
        return base64.b64encode(self.store.frame(task_id, frame).read()).decode("ascii")

    def detect(
        self,
        function: LambdaFunction,
        task_id: int,
        frame: int,
        mapping: Mapping[str, MappedLabel],
        threshold: Any = None,
        conv_mask_to_poly: bool = False,
    ) -> dict[str, list[dict[str, Any]]]:
        """Run a detector on one frame and convert its answer to task shapes and tags."""
        payload: dict[str, Any] = {"image": self.image(task_id, frame)}
        if threshold:
            payload["threshold"] = threshold
        answer = self.nuclio.invoke(function, payload)
        return convert_detections(answer, mapping, int(frame), conv_mask_to_poly=bool(conv_mask_to_poly))

    def mapping_for(self, function: LambdaFunction, task_id: int, mapping: Any) -> dict[str, MappedLabel]:
        return resolve_mapping(function.labels, self.store.task(task_id)["labels"], mapping)


def _task_of(store: TaskStore, function: LambdaFunction, data: Mapping[str, Any]) -> int:
    if "job" in data:
        job = _integer(data["job"], "job")
        task = store.task(job)  # one job per task: the job id is the task id
        for key in ("frame", "frame0", "frame1"):
            if key in data and not 0 <= _integer(data[key], key) < max(task["size"], 1):
                raise BadRequest("The frame is outside the job range")
        return job
    if "task" in data:
        return _integer(data["task"], "task")
    raise BadRequest(f"{function.id} lambda function was run with wrong arguments (a 'task' or 'job' is required)")


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
        raise BadRequest(f"{name} must be an integer, got {value!r}")
    return int(value)


def _required(data: Mapping[str, Any], key: str, function: LambdaFunction) -> Any:
    if key not in data:
        raise BadRequest(f"{function.id} lambda function was run without the required argument {key!r}")
    return data[key]


def call_online(caller: Caller, function: LambdaFunction, body: Mapping[str, Any]) -> Any:
    """``POST /api/lambda/functions/{id}``: the answer CVAT gives for each kind."""
    data = {k: v for k, v in body.items() if v is not None}
    task_id = _task_of(caller.store, function, data)
    threshold = data.get("threshold")
    if function.kind == "detector":
        mapping = caller.mapping_for(function, task_id, data.get("mapping"))
        frame = _integer(_required(data, "frame", function), "frame")
        converted = caller.detect(function, task_id, frame, mapping, threshold, bool(data.get("conv_mask_to_poly")))
        return {"version": 0, **converted, "tracks": []}
    if function.kind == "interactor":
        payload = {
            "image": caller.image(task_id, _required(data, "frame", function)),
            "pos_points": _required(data, "pos_points", function),
            "neg_points": _required(data, "neg_points", function),
            "obj_bbox": data.get("obj_bbox"),
        }
        if threshold:
            payload["threshold"] = threshold
        return caller.nuclio.invoke(function, payload)
    if function.kind == "tracker":
        return _call_tracker(caller, function, task_id, data)
    return _call_reid(caller, function, task_id, data)


def _signer(caller: Caller, function: LambdaFunction) -> TimestampSigner:
    return TimestampSigner(caller.secret, salt=f"cvat-tracker-state:{function.id}")


def _call_tracker(caller: Caller, function: LambdaFunction, task_id: int, data: Mapping[str, Any]) -> Any:
    if "states" not in data:
        shapes, states = _required(data, "shapes", function), []
    elif "shapes" not in data:
        states = data["states"]
        shapes = [None] * len(states) if isinstance(states, list) else None
    else:
        shapes, states = data["shapes"], data["states"]
    if not isinstance(shapes, list) or not isinstance(states, list):
        raise BadRequest("shapes and states must be lists")
    declared = function.supported_shape_types
    prepared = [_prepare_shape(shape, declared) for shape in shapes]
    signer = _signer(caller, function)
    decoded = []
    for state in states:
        if state is None:
            decoded.append(None)
            continue
        try:
            decoded.append(json.loads(signer.unsign(str(state), max_age=TRACKER_STATE_MAX_AGE_S)))
        except (BadSignature, ValueError):
            raise BadRequest("Invalid or expired tracker state") from None
    payload: dict[str, Any] = {
        "image": caller.image(task_id, _required(data, "frame", function)),
        "shapes": prepared,
        "states": decoded,
    }
    if data.get("threshold"):
        payload["threshold"] = data["threshold"]
    answer = caller.nuclio.invoke(function, payload)
    if not isinstance(answer, Mapping) or not isinstance(answer.get("shapes"), list):
        raise GatewayError("a tracker must answer {shapes, states}", 500)
    out_shapes = [
        None if s is None else (s if declared else {"type": "rectangle", "points": s}) for s in answer["shapes"]
    ]
    out_states = [signer.sign(json.dumps(s, separators=(",", ":"))).decode() for s in answer.get("states") or []]
    return {"shapes": out_shapes, "states": out_states}


def _prepare_shape(shape: Any, declared: Sequence[str] | None) -> Any:
    if shape is None:
        return None
    if not isinstance(shape, Mapping) or "points" not in shape:
        raise BadRequest("every tracked shape must be an object with 'type' and 'points'")
    shape_type = shape.get("type", "rectangle")
    if shape_type not in (declared or ["rectangle"]):
        raise BadRequest(f"This function does not support shapes of type '{shape_type}'")
    return dict(shape) if declared else shape["points"]


def _call_reid(caller: Caller, function: LambdaFunction, task_id: int, data: Mapping[str, Any]) -> Any:
    boxes0, boxes1 = data.get("boxes0") or [], data.get("boxes1") or []
    if not isinstance(boxes0, list) or not isinstance(boxes1, list):
        raise BadRequest("boxes0 and boxes1 must be lists of shapes")
    if not boxes0 or not boxes1:
        return []
    payload: dict[str, Any] = {
        "image0": caller.image(task_id, _required(data, "frame0", function)),
        "image1": caller.image(task_id, _required(data, "frame1", function)),
        "boxes0": boxes0,
        "boxes1": boxes1,
    }
    for key in ("threshold", "max_distance"):
        if data.get(key):
            payload[key] = data[key]
    return caller.nuclio.invoke(function, payload)
