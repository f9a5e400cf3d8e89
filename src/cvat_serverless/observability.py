"""Metrics, request ids and log format for the local stack's three servers (processor, dashboard, gateway).

- ``/metrics`` in Prometheus' text format (prometheus-client, one registry per server): requests by
  component, route, function, kind and status; a latency histogram; plus what each server adds
  (worker restarts, processor restarts, queue depth and request progress) through collectors read
  at scrape time.
- ``X-Request-ID``: taken from the request or made here, answered back, and sent on with every call
  the server makes (gateway → dashboard → processor), so one call's log lines share one id down to
  the function's own (``context.logger`` lines carry ``request_id``).
- ``CVAT_SERVERLESS_LOG_FORMAT=json`` switches the servers' logs (and the functions') to one JSON
  object a line; the default stays human-readable.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
LOG_FORMAT_ENV = "CVAT_SERVERLESS_LOG_FORMAT"
LOG_LEVEL_ENV = "CVAT_SERVERLESS_LOG_LEVEL"
request_id: ContextVar[str] = ContextVar("request_id", default="")
"""The id of the request being served (empty outside one)."""

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def json_logs() -> bool:
    return os.environ.get(LOG_FORMAT_ENV, "").strip().lower() == "json"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if request_id.get():
            document["request_id"] = request_id.get()
        extra = getattr(record, "with", None)
        if isinstance(extra, Mapping):
            document.update({str(k): v for k, v in extra.items()})
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def configure_logging(level: int | None = None) -> None:
    """The stack's log format: human-readable, or JSON lines with ``CVAT_SERVERLESS_LOG_FORMAT=json``;
    the level from ``level``, else ``CVAT_SERVERLESS_LOG_LEVEL`` (default INFO)."""
    if level is None:
        level = logging.getLevelName(os.environ.get(LOG_LEVEL_ENV, "INFO").strip().upper())
        level = level if isinstance(level, int) else logging.INFO
    handler = logging.StreamHandler()
    if json_logs():
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class Metrics:
    """One server's registry, its request metrics and its ``/metrics`` route."""

    def __init__(self, component: str, collectors: Iterable[Collector] = ()) -> None:
        self.component = component
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cvat_serverless_requests",
            "HTTP requests answered, by route, function, function kind and status",
            ["component", "route", "function", "kind", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cvat_serverless_request_seconds",
            "Time to answer an HTTP request",
            ["component", "route", "function", "kind"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        for collector in collectors:
            self.registry.register(collector)

    def route(self) -> Route:
        async def metrics(request: Request) -> Response:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        return Route("/metrics", metrics)


class ObservedApp:
    """ASGI middleware: request id in and out, and one count + latency sample per HTTP request.

    ``labels(scope)`` gives the function and kind of a request (the route's template names the
    route); an endpoint may also put ``{"function": ..., "kind": ...}`` in ``request.state.observed``.
    """

    def __init__(
        self, app: ASGIApp, metrics: Metrics, labels: Callable[[Scope], tuple[str, str]] | None = None
    ) -> None:
        self.app, self.metrics, self.labels = app, metrics, labels

    @staticmethod
    def _route(scope: Scope) -> str:
        """The template of the route Starlette's router matched (it records it in the scope)."""
        return str(getattr(scope.get("route"), "path", "") or "unmatched")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        rid = given if given and len(given) <= 128 and given.isprintable() else uuid.uuid4().hex
        token = request_id.set(rid)
        status = [500]
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER.encode(), rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
            route = self._route(scope)
            if route != "/metrics":
                function, kind = self.labels(scope) if self.labels else ("", "")
                observed = (scope.get("state") or {}).get("observed") or {}
                function, kind = observed.get("function", function), observed.get("kind", kind)
                names = (self.metrics.component, route, function, kind)
                self.metrics.requests.labels(*names, str(status[0])).inc()
                self.metrics.latency.labels(*names).observe(time.perf_counter() - started)


class GaugeCollector(Collector):
    """A labelled gauge read at scrape time: ``read()`` gives ``{label values: value}``."""

    def __init__(self, name: str, documentation: str, labels: list[str], read: Callable[[], Mapping]) -> None:
        self.name, self.documentation, self.label_names, self.read = name, documentation, labels, read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.label_names)
        try:
            values = self.read()
        except Exception:  # a scrape must not fail because one source is briefly unavailable
            values = {}
        for key, value in values.items():
            family.add_metric([str(v) for v in (key if isinstance(key, tuple) else (key,))], float(value))
        yield family
