"""CVAT's ``/api/lambda/*`` on top of any Nuclio dashboard (contract §3, §6, §7)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cvat_serverless.gateway import access
from cvat_serverless.gateway.auth_api import current_user
from cvat_serverless.gateway.calls import Caller, call_online, task_and_job
from cvat_serverless.gateway.errors import BadRequest, NotFound, ValidationFailed
from cvat_serverless.gateway.functions import LambdaFunction
from cvat_serverless.gateway.queues import RequestQueue
from cvat_serverless.gateway.request_serializer import validate_request
from cvat_serverless.gateway.roi import frame_sizes, validate_task_roi
from cvat_serverless.gateway.tasks_api import both, json_body, read_body

LOG = logging.getLogger("cvat_serverless.gateway")
ONLINE_BODY_LIMIT = 16 * 1024 * 1024


@dataclass
class LambdaApi:
    """The lambda routes over a :class:`Caller` (dashboard client + task store) and a request queue."""

    caller: Caller
    queue: RequestQueue

    async def list_functions(self, request: Request) -> Response:
        functions, skipped = await run_in_threadpool(self.caller.nuclio.list)
        for name, reason in skipped.items():
            LOG.error("function %s is left out of the list: %s", name, reason)
        return JSONResponse([function.to_dict() for function in functions])

    async def function(self, request: Request) -> Response:
        func_id = request.path_params["func_id"]
        function = await run_in_threadpool(self.caller.nuclio.get, func_id)
        request.state.observed = {"function": function.id, "kind": function.kind}
        if request.method == "GET":
            return JSONResponse(function.to_dict())
        data = json_body(await read_body(request, ONLINE_BODY_LIMIT))
        await run_in_threadpool(self._authorize, request, data)
        return JSONResponse(await run_in_threadpool(call_online, self.caller, function, data))

    def _authorize(self, request: Request, data: Mapping[str, Any]) -> None:
        """A call on a task or job the user may not see is CVAT's 403 (checked after the ids exist)."""
        try:
            task, job = task_and_job(self.caller.store, data)
        except NotFound:
            return  # no task or job: the call itself answers CVAT's 400
        user = current_user(request)
        access.require(access.is_job_staff(user, task, job) if job is not None else access.is_task_staff(user, task))

    def _visible(self, request: Request, call: Mapping[str, Any]) -> bool:
        try:
            task = self.caller.store.task(int(call["function"]["task"]))
        except (NotFound, KeyError, TypeError, ValueError):
            return False
        return access.is_task_staff(current_user(request), task)

    async def requests(self, request: Request) -> Response:
        if request.method == "GET":
            calls = await run_in_threadpool(self.queue.list)
            return JSONResponse([call for call in calls if self._visible(request, call)])
        data = json_body(await read_body(request, ONLINE_BODY_LIMIT))
        params = self._validate(data)
        await run_in_threadpool(self._task_exists, params["task"])
        await run_in_threadpool(self._authorize, request, params)
        function = await run_in_threadpool(self.caller.nuclio.get, params["function"])
        await run_in_threadpool(self._check_roi, function, params)
        if function.kind == "detector":
            await run_in_threadpool(self.caller.mapping_for, function, params["task"], params.get("mapping"))
        return JSONResponse(await run_in_threadpool(self.queue.submit, params))

    def _task_exists(self, task_id: int) -> None:
        """CVAT answers an unknown task with 400 (``Task.objects.get`` raising in its permission check)."""
        try:
            self.caller.store.task(task_id)
        except NotFound:
            raise ValidationFailed(["Task matching query does not exist."]) from None

    def _check_roi(self, function: LambdaFunction, params: dict[str, Any]) -> None:
        """Only detectors take a region on requests; it must fit the task's (single) frame size."""
        if params.get("roi") is None:
            return
        if function.kind != "detector":
            raise BadRequest(f"ROI is not supported for {function.kind} functions")
        validate_task_roi(params["roi"], frame_sizes(self.caller.store.frames(params["task"])))

    async def tracking(self, request: Request) -> Response:
        """``POST /api/lambda/tracking`` (an extension): track frame A's shapes up to frame B as a request."""
        data = json_body(await read_body(request, ONLINE_BODY_LIMIT))
        params = self._validate({k: v for k, v in data.items() if k not in ("frame", "target_frame", "shape_ids")})
        for key in ("frame", "target_frame"):
            value = data.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
                raise BadRequest(f"{key!r} (an integer frame number) is required")
            params[key] = int(value)
        ids = data.get("shape_ids")
        if ids is not None:
            if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
                raise BadRequest("'shape_ids' must be a list of shape ids")
            params["shape_ids"] = ids
        params["convert_polygons_to_tracks"] = bool(data.get("convert_polygons_to_tracks", False))
        params["action"] = "track"
        function = await run_in_threadpool(self.caller.nuclio.get, params["function"])
        if function.kind != "tracker":
            raise BadRequest(f"{function.id} is a {function.kind}; tracking needs a tracker")
        self._task_exists(params["task"])
        self._authorize(request, params)
        self._check_roi(function, params)
        return JSONResponse(await run_in_threadpool(self.queue.submit, params))

    def _validate(self, data: dict[str, Any]) -> dict[str, Any]:
        params = validate_request(data)  # FunctionCallRequestSerializer: DRF's 400 body
        if "job" in params:
            task_and_job(self.caller.store, params, task_must_match=True)  # CVAT's 400s for a foreign job
        return params

    async def request(self, request: Request) -> Response:
        rq_id = request.path_params["rq_id"]
        if request.method == "DELETE":
            await run_in_threadpool(self.queue.cancel, rq_id)
            return Response(status_code=204)
        return JSONResponse(await run_in_threadpool(self.queue.get, rq_id))

    def routes(self) -> list[Route]:
        return [
            *[Route(p, self.list_functions) for p in both("/api/lambda/functions")],
            *[Route(p, self.function, methods=["GET", "POST"]) for p in both("/api/lambda/functions/{func_id}")],
            *[Route(p, self.requests, methods=["GET", "POST"]) for p in both("/api/lambda/requests")],
            *[Route(p, self.request, methods=["GET", "DELETE"]) for p in both("/api/lambda/requests/{rq_id}")],
            *[Route(p, self.tracking, methods=["POST"]) for p in both("/api/lambda/tracking")],
        ]
