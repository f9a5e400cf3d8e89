"""The processor's HTTP side: Nuclio's HTTP trigger semantics over a :class:`WorkerPool`."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Mapping

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cvat_serverless.bodies import BodyTooLarge, read_limited
from cvat_serverless.lifetime import exit_with_parent
from cvat_serverless.observability import (
    REQUEST_ID_HEADER,
    GaugeCollector,
    Metrics,
    ObservedApp,
    configure_logging,
    request_id,
)
from cvat_serverless.processor.pool import HandlerTimeout, NotReady, NoWorkerAvailable, WorkerCrashed, WorkerPool
from cvat_serverless.runtime.spec import read_function_spec

LOG = logging.getLogger("cvat_serverless.processor")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def build_app(pool: WorkerPool) -> ObservedApp:
    """The ASGI app: internal endpoints plus every other path going to the function."""
    limit = pool.spec.max_request_body_size

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        ok = pool.state == "ready"
        return JSONResponse({"ready": ok, **pool.status()}, status_code=200 if ok else 503)

    async def status(request: Request) -> Response:
        return JSONResponse(pool.status())

    async def invoke(request: Request) -> Response:
        try:
            body = await read_limited(request, limit)
        except BodyTooLarge:
            return _error(413, f"request body is larger than maxRequestBodySize ({limit} bytes)")
        headers = {k: v for k, v in request.headers.items() if not k.lower().startswith("x-nuclio-")}
        headers[REQUEST_ID_HEADER] = request_id.get()  # the function's log lines carry it
        event = {
            "content_type": request.headers.get("content-type", ""),
            "method": request.method,
            "path": request.url.path,
            "headers": headers,
            "fields": dict(request.query_params),
        }
        try:
            answer = await pool.invoke(event, body)
        except NotReady as error:
            return _error(503, str(error))
        except NoWorkerAvailable:
            return _error(503, "no worker became available in time (workerAvailabilityTimeoutMilliseconds)")
        except HandlerTimeout:
            return _error(408, "handler timed out")
        except WorkerCrashed as error:
            return _error(500, str(error))
        headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "content-type")}
        return Response(answer.body, status_code=answer.status_code, media_type=answer.content_type, headers=headers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pool.start()
        try:
            yield
        finally:
            pool.stop()

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    name, kind = pool.spec.name, str((pool.spec.raw.get("metadata") or {}).get("annotations", {}).get("type", ""))
    metrics = Metrics(
        "processor",
        [
            GaugeCollector(
                "cvat_serverless_worker_restarts",
                "Times a worker process was restarted (it died, timed out or was killed)",
                ["function"],
                lambda: {name: sum(worker.restarts for worker in pool.workers)},
            ),
            GaugeCollector(
                "cvat_serverless_workers",
                "Worker processes by state",
                ["function", "state"],
                lambda: _count_states(name, pool),
            ),
        ],
    )
    app = Starlette(
        routes=[
            Route("/__internal/health", health),
            Route("/__internal/live", health),
            Route("/__internal/ready", ready),
            Route("/__internal/status", status),
            metrics.route(),
            Route("/{path:path}", invoke, methods=methods),
        ],
        lifespan=lifespan,
    )
    return ObservedApp(app, metrics, labels=lambda scope: (name, kind))


def _count_states(name: str, pool: WorkerPool) -> dict[tuple[str, str], int]:
    counted: dict[tuple[str, str], int] = {}
    for worker in pool.workers:
        counted[(name, worker.state)] = counted.get((name, worker.state), 0) + 1
    return counted


def serve(
    function_dir: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    yaml_name: str = "function.yaml",
    env: Mapping[str, str] | None = None,
    num_workers: int | None = None,
) -> None:
    """Run the processor until SIGINT/SIGTERM (uvicorn handles both and shuts the workers down)."""
    exit_with_parent()  # a platform (or test) that started this processor and died takes it along
    spec = read_function_spec(function_dir, yaml_name)
    pool = WorkerPool(spec=spec, yaml_name=yaml_name, env=dict(env or {}), num_workers=num_workers or spec.num_workers)
    configure_logging()
    LOG.info("serving %s (%s workers) on http://%s:%s", spec.name, pool.num_workers, host, port)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal with the handlers
    # that were installed before it: make those a clean exit.
    for handled in (signal.SIGINT, signal.SIGTERM):
        signal.signal(handled, lambda *_: sys.exit(0))
    uvicorn.run(build_app(pool), host=host, port=port, log_level="warning", access_log=False)
