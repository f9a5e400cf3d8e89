"""The Nuclio dashboard REST subset CVAT uses, over a :class:`FunctionRegistry`."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from cvat_serverless.bodies import BodyTooLarge, read_limited
from cvat_serverless.dashboard.registry import PROJECT, FunctionRegistry, ManagedFunction
from cvat_serverless.observability import REQUEST_ID_HEADER, GaugeCollector, Metrics, ObservedApp, request_id
from cvat_serverless.runtime.spec import FunctionSpecError, parse_duration

DEFAULT_INVOKE_TIMEOUT_S = 120.0
SUPERVISE_INTERVAL_S = 2.0
STATUS_MAX_AGE_FACTOR = 1.25
"""A processor's status younger than 1.25 supervision intervals is answered from memory (supervision
refreshes it every interval), so CVAT's function GET on every online call costs no processor round trip."""
_HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "authorization"}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class BearerToken(BaseHTTPMiddleware):
    """Reject requests without ``Authorization: Bearer <token>`` (when a token is configured)."""

    def __init__(self, app: object, token: str) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.token = token

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            return _error(401, "missing or wrong bearer token")
        return await call_next(request)


def build_dashboard(
    registry: FunctionRegistry, *, token: str | None = None, supervise_interval_s: float = SUPERVISE_INTERVAL_S
) -> ObservedApp:
    """The dashboard app: list/get functions and invoke them through their processors."""
    max_age_s = supervise_interval_s * STATUS_MAX_AGE_FACTOR
    shared: dict[str, httpx.AsyncClient] = {}  # one keep-alive client to the processors, made in the lifespan
    statuses: dict[str, tuple[float, Any, dict[str, Any]]] = {}  # name -> (when, handle, status)

    async def fetch_status(name: str, managed: ManagedFunction) -> dict[str, Any]:
        handle = managed.handle
        if handle is None:
            return {"state": "building", "message": "starting"}
        if handle.process.poll() is not None:
            status = {"state": "error", "message": f"processor exited with code {handle.process.returncode}"}
        else:
            try:
                status = (await shared["client"].get(f"{handle.url}/__internal/status", timeout=5)).json()
            except (httpx.HTTPError, ValueError):
                status = {"state": "building", "message": "processor is starting"}
        statuses[name] = (time.monotonic(), handle, status)
        return status

    async def status_of(name: str, managed: ManagedFunction) -> dict[str, Any]:
        cached = statuses.get(name)
        if cached and cached[1] is managed.handle and time.monotonic() - cached[0] < max_age_s:
            return cached[2]
        return await fetch_status(name, managed)

    async def list_functions(request: Request) -> Response:
        project = request.headers.get("x-nuclio-project-name")
        if project and project != PROJECT:
            return JSONResponse({})
        items = list(registry.functions.items())
        found = await asyncio.gather(*(status_of(name, managed) for name, managed in items))
        return JSONResponse(
            {name: managed.config(status) for (name, managed), status in zip(items, found, strict=True)}
        )

    async def get_function(request: Request) -> Response:
        name = request.path_params["name"]
        managed = registry.functions.get(name)
        if managed is None:
            return _error(404, f"function {name!r} not found")
        return JSONResponse(managed.config(await status_of(name, managed)))

    async def invoke(request: Request) -> Response:
        name = request.headers.get("x-nuclio-function-name")
        if not name:
            return _error(400, "the x-nuclio-function-name header is required")
        managed = registry.functions.get(name)
        if managed is None or managed.handle is None:
            return _error(404, f"Failed to invoke function: function {name!r} not found")
        try:
            timeout = parse_duration(request.headers.get("x-nuclio-invoke-timeout", "") or "120s")
        except FunctionSpecError:
            return _error(400, "x-nuclio-invoke-timeout must be a duration like '120s'")
        path = "/" + request.headers.get("x-nuclio-path", "").lstrip("/")
        headers = {
            k: v
            for k, v in request.headers.items()
            if not k.lower().startswith("x-nuclio-") and k.lower() not in _HOP_HEADERS
        }
        headers[REQUEST_ID_HEADER] = request_id.get()
        try:
            body = await read_limited(request, managed.spec.max_request_body_size)
        except BodyTooLarge as error:
            return _error(413, f"Failed to invoke function: {error} (the function's maxRequestBodySize)")
        try:
            answer = await shared["client"].request(
                request.method,
                managed.handle.url + path,
                content=body,
                headers=headers,
                params=request.query_params,
                timeout=timeout,
            )
        except httpx.TimeoutException:
            return _error(504, f"Failed to invoke function: {name!r} did not answer within {timeout:g} s")
        except httpx.HTTPError as error:
            return _error(503, f"Failed to invoke function: {error}")
        passed = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS | {"content-encoding"}}
        return Response(answer.content, status_code=answer.status_code, headers=passed)

    async def health(request: Request) -> Response:
        found = {name: await status_of(name, managed) for name, managed in registry.functions.items()}
        return JSONResponse({"functions": {name: status.get("state", "building") for name, status in found.items()}})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def supervise() -> None:
            while True:
                await asyncio.sleep(supervise_interval_s)
                await asyncio.to_thread(registry.supervise)
                await asyncio.gather(*(fetch_status(n, m) for n, m in list(registry.functions.items())))

        task = asyncio.get_running_loop().create_task(supervise())
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        async with httpx.AsyncClient(limits=limits, timeout=DEFAULT_INVOKE_TIMEOUT_S) as client:
            shared["client"] = client
            try:
                yield
            finally:
                task.cancel()

    middleware = [Middleware(BearerToken, token=token)] if token else []
    metrics = Metrics(
        "dashboard",
        [
            GaugeCollector(
                "cvat_serverless_processor_restarts",
                "Times the dashboard restarted a function's processor (it exited)",
                ["function"],
                lambda: {name: managed.restarts for name, managed in registry.functions.items()},
            )
        ],
    )

    def labels(scope: Scope) -> tuple[str, str]:
        headers = dict(scope.get("headers") or [])
        name = headers.get(b"x-nuclio-function-name", b"").decode("latin-1")
        name = name or str((scope.get("path_params") or {}).get("name", ""))
        managed = registry.functions.get(name)
        kind = str(managed.spec.annotations.get("type", "")) if managed is not None else ""
        return (name if managed is not None else ""), kind

    app = Starlette(
        routes=[
            Route("/api/functions", list_functions),
            Route("/api/functions/{name}", get_function),
            Route("/api/function_invocations", invoke, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            Route("/api/healthz", health),
            metrics.route(),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    return ObservedApp(app, metrics, labels=labels)
