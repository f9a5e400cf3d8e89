"""The local stack: processors for function folders, the Nuclio-compatible dashboard and the lambda gateway.

``cvat-serverless platform`` runs it in the foreground; tests and benchmarks start it in-process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from cvat_serverless.dashboard import FunctionRegistry, build_dashboard
from cvat_serverless.gateway import GatewayConfig, NuclioSettings, build_gateway
from cvat_serverless.gateway.rqqueue import QUEUE_NAME, resume_jobs_of_dead_workers
from cvat_serverless.lifetime import child_env
from cvat_serverless.processor.pool import STATE_SECRET_ENV
from cvat_serverless.secret_files import persistent_secret


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ThreadedServer:
    """One uvicorn server on a background thread."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{port}", daemon=True)
        self.url = f"http://{host}:{port}"

    def start(self, timeout_s: float = 30.0) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


LOG = logging.getLogger("cvat_serverless.stack")
RQ_RESTART_MIN_S = 0.5
RQ_RESTART_MAX_S = 8.0
RQ_SCAN_S = 5.0
"""How often the supervision looks for jobs of rq workers that died elsewhere on this host."""


@dataclass
class LocalStack:
    """Processors + dashboard + gateway (+ RQ workers when a Redis URL is given)."""

    folders: list[Path]
    data_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    dashboard_port: int = 0
    gateway_port: int = 0
    token: str | None = None
    username: str = "admin"
    password: str = "admin"
    share_dir: Path | None = None
    redis_url: str | None = None
    rq_workers: int = 1
    request_workers: int = 1
    num_workers: int | None = None
    invoke_method: str = "direct"
    """How the gateway reaches functions: ``direct`` (their processor port, CVAT's default outside
    Kubernetes) or ``dashboard`` (``/api/function_invocations``)."""
    registry: FunctionRegistry | None = None
    servers: list[ThreadedServer] = field(default_factory=list)
    workers: list[RqWorker] = field(default_factory=list)
    rq_restarts: int = 0
    _close_gateway: Any = None
    _stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def dashboard_url(self) -> str:
        return f"http://{self.host}:{self.dashboard_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}"

    def start(
        self, ready_timeout_s: float = 600.0, on_settled: Callable[[str, str | None], None] | None = None
    ) -> dict[str, str]:
        """Start everything; returns ``{function: reason}`` for functions that failed to initialise.
        ``on_settled(name, error)`` hears of each function as it becomes ready or fails."""
        self.dashboard_port = self.dashboard_port or free_port(self.host)
        self.gateway_port = self.gateway_port or free_port(self.host)
        env = dict(self.env)
        if STATE_SECRET_ENV not in env and STATE_SECRET_ENV not in os.environ:
            # One secret for every function of the platform, kept across restarts: tracker states
            # issued before a processor (or the platform) restarts stay valid after it.
            env[STATE_SECRET_ENV] = persistent_secret(self.data_dir / "function_state_secret")
        self.registry = FunctionRegistry(folders=self.folders, env=env, num_workers=self.num_workers)
        self.registry.start()
        failures = self.registry.wait_ready(ready_timeout_s, on_settled)
        self.servers.append(
            ThreadedServer(build_dashboard(self.registry, token=self.token), self.host, self.dashboard_port).start()
        )
        nuclio = NuclioSettings(
            host=self.host, port=self.dashboard_port, invoke_method=self.invoke_method, token=self.token
        )
        config = GatewayConfig(
            data_dir=self.data_dir,
            nuclio=nuclio,
            username=self.username,
            password=self.password,
            share_dir=self.share_dir,
            redis_url=self.redis_url,
            workers=self.request_workers,
        )
        app, self._close_gateway = build_gateway(config)
        self.servers.append(ThreadedServer(app, self.host, self.gateway_port).start())
        if self.redis_url:
            for _ in range(self.rq_workers):
                self.workers.append(start_rq_worker(self.redis_url, nuclio))
            threading.Thread(target=self._supervise_rq, args=(nuclio,), name="rq-supervisor", daemon=True).start()
        return failures

    def _supervise_rq(self, nuclio: NuclioSettings) -> None:
        """Restart every ``rq worker`` that exits (it does when Redis goes away), with a capped backoff
        while Redis stays down, so requests run again as soon as Redis is back.

        The job a worker was running when it died is put back on the queue at once and resumes
        from its checkpoint (so are jobs of workers found dead at start: a platform that died).
        """
        from redis.exceptions import RedisError

        assert self.redis_url is not None
        delay, dead, next_scan = RQ_RESTART_MIN_S, set[str](), 0.0
        while not self._stopping.wait(delay):
            exited = [i for i, worker in enumerate(self.workers) if worker.process.poll() is not None]
            for index in exited:
                if self._stopping.is_set():
                    return
                LOG.warning("rq worker exited (%s); restarting it", self.workers[index].process.returncode)
                dead.add(self.workers[index].name)
                self.workers[index] = start_rq_worker(self.redis_url, nuclio)
                self.rq_restarts += 1
            try:
                if time.monotonic() >= next_scan:  # workers of a platform that died (they end a moment after it)
                    resume_jobs_of_dead_workers(self.redis_url)
                    next_scan = time.monotonic() + RQ_SCAN_S
                if dead:
                    resume_jobs_of_dead_workers(self.redis_url, dead)
                    dead.clear()
            except RedisError as error:  # tried again on the next round, once Redis is back
                LOG.warning("could not resume the jobs of dead rq workers yet: %s", error)
            delay = min(delay * 2, RQ_RESTART_MAX_S) if exited or dead else RQ_RESTART_MIN_S

    @contextlib.contextmanager
    def running(self, ready_timeout_s: float = 600.0) -> Iterator[LocalStack]:
        """Start, refuse a function that failed to initialise (RuntimeError naming it), stop on the way out
        (also when the start failed, so no processor is left behind)."""
        try:
            failures = self.start(ready_timeout_s)
            if failures:
                raise RuntimeError(f"functions failed to start: {failures}")
            yield self
        finally:
            self.stop()

    def stop(self) -> None:
        self._stopping.set()
        for worker in self.workers:
            worker.process.terminate()
        for worker in self.workers:
            try:
                worker.process.wait(15)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
        if self.workers and self.redis_url:
            from redis.exceptions import RedisError

            with contextlib.suppress(RedisError):  # a job cut short goes back on the queue for the next start
                resume_jobs_of_dead_workers(self.redis_url, {worker.name for worker in self.workers})
        for server in reversed(self.servers):
            server.stop()
        if self._close_gateway is not None:
            self._close_gateway()
        if self.registry is not None:
            self.registry.stop()


@dataclass
class RqWorker:
    """An ``rq worker`` subprocess and the name it registered under (its jobs carry it)."""

    process: subprocess.Popen[bytes]
    name: str


def start_rq_worker(redis_url: str, nuclio: NuclioSettings) -> RqWorker:
    """An ``rq worker`` for the ``annotation`` queue (JSON serializer), as a subprocess of this Python.

    It is a ``SimpleWorker``: the job runs in the worker process itself, so when that process dies
    the job dies with it, and its supervisor (this process, its parent) knows at once. A forking
    worker's work-horse would live on, unsupervised, after its worker was killed.
    """
    name = f"cvat-serverless-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    env = child_env({**os.environ, **({"CVAT_NUCLIO_TOKEN": nuclio.token} if nuclio.token else {})})
    args = [sys.executable, "-m", "cvat_serverless.gateway.rq_worker", "worker", QUEUE_NAME, "--url", redis_url]
    args += ["--name", name]
    args += ["--worker-class", "rq.worker.SimpleWorker", "--serializer", "rq.serializers.JSONSerializer", "--quiet"]
    return RqWorker(subprocess.Popen(args, env=env), name)
