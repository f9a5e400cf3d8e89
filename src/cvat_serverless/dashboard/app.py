"""The Nuclio dashboard REST subset CVAT uses, over a :class:`FunctionRegistry`."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cvat_serverless.dashboard.registry import PROJECT, FunctionRegistry
from cvat_serverless.runtime.spec import FunctionSpecError, parse_duration

DEFAULT_INVOKE_TIMEOUT_S = 120.0
SUPERVISE_INTERVAL_S = 2.0
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


def build_dashboard(registry: FunctionRegistry, *, token: str | None = None) -> Starlette:
    """The dashboard app: list/get functions and invoke them through their processors."""
    shared: dict[str, httpx.AsyncClient] = {}  # one keep-alive client to the processors, made in the lifespan

    async def list_functions(request: Request) -> Response:
        project = request.headers.get("x-nuclio-project-name")
        if project and project != PROJECT:
            return JSONResponse({})
        return JSONResponse({name: managed.config() for name, managed in registry.functions.items()})

    async def get_function(request: Request) -> Response:
        managed = registry.functions.get(request.path_params["name"])
        if managed is None:
            return _error(404, f"function {request.path_params['name']!r} not found")
        return JSONResponse(managed.config())

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
        try:
            answer = await shared["client"].request(
                request.method,
                managed.handle.url + path,
                content=await request.body(),
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
        return JSONResponse({"functions": {n: m.state()["state"] for n, m in registry.functions.items()}})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def supervise() -> None:
            while True:
                await asyncio.sleep(SUPERVISE_INTERVAL_S)
                await asyncio.to_thread(registry.supervise)

        task = asyncio.get_running_loop().create_task(supervise())
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        async with httpx.AsyncClient(limits=limits, timeout=DEFAULT_INVOKE_TIMEOUT_S) as client:
            shared["client"] = client
            try:
                yield
            finally:
                task.cancel()

    middleware = [Middleware(BearerToken, token=token)] if token else []
    return Starlette(
        routes=[
            Route("/api/functions", list_functions),
            Route("/api/functions/{name}", get_function),
            Route("/api/function_invocations", invoke, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            Route("/api/healthz", health),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
