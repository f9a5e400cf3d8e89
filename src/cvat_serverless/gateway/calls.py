"""Building function payloads from CVAT requests and shaping the answers (contract §4, §6)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, TimestampSigner

from cvat_serverless.gateway.errors import BadRequest, GatewayError, NotFound, ValidationFailed
from cvat_serverless.gateway.functions import LambdaFunction
from cvat_serverless.gateway.jobstore import job_frames
from cvat_serverless.gateway.mapping import MappedLabel, convert_detections, resolve_mapping
from cvat_serverless.gateway.nuclio import NuclioClient
from cvat_serverless.gateway.numbers import to_int
from cvat_serverless.gateway.roi import (
    FOUR_INTEGERS,
    Roi,
    crop_frame,
    parse_roi,
    translate_interactor_answer,
    translate_prompt_points,
    translate_shapes,
)
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

    def region(self, task_id: int, frame: Any, roi: Any) -> tuple[str, Roi, tuple[int, int]]:
        """The frame cropped to ``roi`` (validated as CVAT does, after the frame is found) and its full size."""
        data = self.store.frame(task_id, frame).read()
        parsed = parse_roi(roi)
        if parsed is None:
            raise BadRequest(FOUR_INTEGERS)
        image, size = crop_frame(data, parsed)
        return image, parsed, size

    def detect(
        self,
        function: LambdaFunction,
        task_id: int,
        frame: int,
        mapping: Mapping[str, MappedLabel],
        threshold: Any = None,
        conv_mask_to_poly: bool = False,
        roi: Any = None,
    ) -> dict[str, list[dict[str, Any]]]:
        """Run a detector on one frame (or on its ``roi`` crop) and convert its answer to task shapes and tags.

        With a region, the converted shapes are moved back by its top-left corner, as CVAT does.
        """
        region = None
        if roi is None:
            payload: dict[str, Any] = {"image": self.image(task_id, frame)}
        else:
            image, region, _ = self.region(task_id, frame, roi)
            payload = {"image": image}
        if threshold:
            payload["threshold"] = threshold
        answer = self.nuclio.invoke(function, payload)
        converted = convert_detections(answer, mapping, int(frame), conv_mask_to_poly=bool(conv_mask_to_poly))
        if region is not None:
            translate_shapes(converted["shapes"], region.xtl, region.ytl)
        return converted

    def mapping_for(self, function: LambdaFunction, task_id: int, mapping: Any) -> dict[str, MappedLabel]:
        return resolve_mapping(function.labels, self.store.task(task_id)["labels"], mapping)


def _existing(store: TaskStore, task_id: int, model: str) -> dict[str, Any]:
    """The task, or CVAT's 400 for an unknown id (``Task.objects.get`` in its permission check)."""
    try:
        return store.task(task_id)
    except NotFound:
        raise ValidationFailed([f"{model} matching query does not exist."]) from None  # as CVAT answers it


FRAME_PARAMETERS = (("frame", "frame"), ("frame0", "start frame"), ("frame1", "end frame"))


def task_and_job(
    store: TaskStore, data: Mapping[str, Any], *, task_must_match: bool = False
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The task (and job) a lambda call names, as CVAT 2.73 finds them: with ``job``, its task (an
    online call ignores ``task`` then); else ``task``. Unknown ids are CVAT's 400s (``Job``/``Task
    matching query does not exist.``). With ``task_must_match`` (requests, where ``task`` is
    required), a ``task`` that is not the job's is ``Job task ID does not match task ID``."""
    if data.get("job") is not None:
        job_id = _integer(data["job"], "job")
        try:
            job = store.job(job_id)
        except NotFound:
            raise ValidationFailed(["Job matching query does not exist."]) from None
        if task_must_match and _integer(data.get("task"), "task") != job["task_id"]:
            raise ValidationFailed(["Job task ID does not match task ID"])  # DRF's serializers.ValidationError
        return _existing(store, int(job["task_id"]), "Task"), job
    if data.get("task") is not None:
        return _existing(store, _integer(data["task"], "task"), "Task"), None
    raise NotFound("neither 'task' nor 'job'")


def _task_of(store: TaskStore, function: LambdaFunction, data: Mapping[str, Any]) -> int:
    try:
        task, job = task_and_job(store, data)
    except NotFound:
        raise BadRequest(f"`{function.id}` lambda function was run with wrong arguments ('task')") from None
    if job is not None:
        frames = set(job_frames(job))
        for key, desc in FRAME_PARAMETERS:
            if key in data and _integer(data[key], key) not in frames:
                raise BadRequest(f"The {desc} is outside the job range")
    return int(task["id"])


def _integer(value: Any, name: str) -> int:
    number = to_int(value, strings=False)  # the stack's one integer reader: no bools, no inf, int64
    if number is None:
        raise BadRequest(f"{name} must be an integer, got {str(value)[:40]!r}")
    return number


def _required(data: Mapping[str, Any], key: str, function: LambdaFunction) -> Any:
    if key not in data:
        raise BadRequest(f"`{function.id}` lambda function was called without mandatory argument: {key}")
    return data[key]


def call_online(caller: Caller, function: LambdaFunction, body: Mapping[str, Any]) -> Any:
    """``POST /api/lambda/functions/{id}``: the answer CVAT gives for each kind."""
    data = {k: v for k, v in body.items() if v is not None}
    task_id = _task_of(caller.store, function, data)
    threshold = data.get("threshold")
    roi = data.get("roi")
    if function.kind == "detector":
        mapping = caller.mapping_for(function, task_id, data.get("mapping"))
        frame = _integer(_required(data, "frame", function), "frame")
        conv = bool(data.get("conv_mask_to_poly"))
        converted = caller.detect(function, task_id, frame, mapping, threshold, conv, roi)
        return {"version": 0, **converted, "tracks": []}
    if function.kind == "interactor":
        return _call_interactor(caller, function, task_id, data)
    if roi is not None:
        raise BadRequest(f"ROI is not supported for {function.kind} functions")
    if function.kind == "tracker":
        return _call_tracker(caller, function, task_id, data)
    return _call_reid(caller, function, task_id, data)


def _call_interactor(caller: Caller, function: LambdaFunction, task_id: int, data: Mapping[str, Any]) -> Any:
    """Clicks and box move into the ``roi`` crop (CVAT moves them by 0 without one); the answer moves back."""
    frame = _required(data, "frame", function)
    region, size = None, (0, 0)
    if data.get("roi") is None:
        image = caller.image(task_id, frame)
    else:
        image, region, size = caller.region(task_id, frame, data["roi"])
    dx, dy = (-region.xtl, -region.ytl) if region else (0, 0)
    payload: dict[str, Any] = {}
    if data.get("threshold"):
        payload["threshold"] = data["threshold"]
    payload.update(
        image=image,
        pos_points=translate_prompt_points(_required(data, "pos_points", function), dx, dy),
        neg_points=translate_prompt_points(_required(data, "neg_points", function), dx, dy),
        obj_bbox=translate_prompt_points(data.get("obj_bbox"), dx, dy),
    )
    if data.get("text_prompts"):
        payload["text_prompts"] = data["text_prompts"]
    answer = caller.nuclio.invoke(function, payload)
    return answer if region is None else translate_interactor_answer(answer, region, size)


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
