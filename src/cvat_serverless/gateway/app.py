"""The gateway app: CVAT's lambda API plus the small task API, behind CVAT-style accounts."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cvat_serverless.gateway.auth import Accounts
from cvat_serverless.gateway.auth_api import AuthApi
from cvat_serverless.gateway.calls import Caller
from cvat_serverless.gateway.errors import GatewayError
from cvat_serverless.gateway.http import error_response
from cvat_serverless.gateway.jobs_api import JobApi
from cvat_serverless.gateway.lambda_api import LambdaApi
from cvat_serverless.gateway.nuclio import NuclioClient, NuclioSettings
from cvat_serverless.gateway.queues import InProcessQueue, RequestQueue
from cvat_serverless.gateway.rqqueue import RqQueue
from cvat_serverless.gateway.store import TaskStore
from cvat_serverless.gateway.tasks_api import PUBLIC_PATHS, TaskApi
from cvat_serverless.gateway.users import User, UserStore
from cvat_serverless.observability import GaugeCollector, Metrics, ObservedApp
from cvat_serverless.secret_files import persistent_secret


@dataclass(frozen=True)
class GatewayConfig:
    """Where the data lives, which dashboard to use, the account, and the queue."""

    data_dir: Path
    nuclio: NuclioSettings
    username: str = "admin"
    password: str = "admin"
    share_dir: Path | None = None
    redis_url: str | None = None
    workers: int = 1

    def secret(self) -> str:
        """The tracker-state signing secret: ``CVAT_SECRET_KEY``, else one kept in the data folder."""
        if os.environ.get("CVAT_SECRET_KEY"):
            return os.environ["CVAT_SECRET_KEY"]
        return persistent_secret(self.data_dir / "secret_key")


class Authenticate(BaseHTTPMiddleware):
    """401 for anything but ``/api/server/about`` and the login without valid credentials."""

    def __init__(self, app: Any, accounts: Accounts) -> None:
        super().__init__(app)
        self.accounts = accounts

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if not PUBLIC_PATHS.match(request.url.path):
            found = await run_in_threadpool(self.accounts.authenticate, request)
            if isinstance(found, GatewayError):
                return error_response(found)
            if not isinstance(found, User):
                return JSONResponse({"detail": found}, status_code=401)  # DRF's NotAuthenticated body
            request.state.user = found
        return await call_next(request)


async def _gateway_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, GatewayError)
    if request.url.path.startswith("/api/lambda/") and getattr(error, "body", None) is None:
        # CVAT's lambda views (``return_response``) answer an error's text as a bare JSON string
        return JSONResponse(error.message, status_code=error.status)
    return error_response(error)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    message = {
        404: f"{request.url.path} does not exist on this server (see docs/local-stack.md for the endpoints it has)",
        405: f"{request.method} is not allowed on {request.url.path} here",
    }.get(error.status_code, str(error.detail))
    return JSONResponse({"error": message}, status_code=error.status_code)


def _count_statuses(calls: list[dict[str, Any]]) -> dict[str, int]:
    counted = {"queued": 0, "started": 0}
    for call in calls:
        counted[call["status"]] = counted.get(call["status"], 0) + 1
    return counted


def build_gateway(config: GatewayConfig) -> tuple[ObservedApp, Callable[[], None]]:
    """The app and a close function (stops the in-process worker, closes the store)."""
    store = TaskStore(config.data_dir)
    nuclio = NuclioClient(config.nuclio)
    caller = Caller(nuclio, store, config.secret())
    queue: RequestQueue
    if config.redis_url:
        settings = {"data_dir": str(config.data_dir), "nuclio_env": config.nuclio.to_env() | {"CVAT_NUCLIO_TOKEN": ""}}
        queue = RqQueue(config.redis_url, settings)
    else:
        queue = InProcessQueue(lambda: caller, store, workers=config.workers)
    users = UserStore(config.data_dir)
    accounts = Accounts(users, config.username, config.password)
    tasks = TaskApi(store, accounts, share_dir=config.share_dir)
    lambdas = LambdaApi(caller, queue)
    metrics = Metrics(
        "gateway",
        [
            GaugeCollector(
                "cvat_serverless_lambda_requests",
                "Whole-task requests (/api/lambda/requests) by status: the queue's depth",
                ["status"],
                lambda: _count_statuses(queue.list()),
            ),
            GaugeCollector(
                "cvat_serverless_lambda_request_progress",
                "Progress (0-100) of each queued or running whole-task request",
                ["request", "function"],
                lambda: {(c["id"], c["function"]["id"]): c["progress"] for c in queue.list()},
            ),
        ],
    )
    starlette = Starlette(
        routes=[
            *AuthApi(accounts).routes(),
            *tasks.routes(),
            *JobApi(tasks).routes(),
            *lambdas.routes(),
            metrics.route(),
        ],
        middleware=[Middleware(Authenticate, accounts=accounts)],
        exception_handlers={GatewayError: _gateway_error, HTTPException: _http_error},
    )
    app = ObservedApp(
        starlette,
        metrics,
        labels=lambda scope: (str((scope.get("path_params") or {}).get("func_id", "")), ""),
    )

    def close() -> None:
        queue.close()
        nuclio.close()
        store.close()
        users.close()

    return app, close
