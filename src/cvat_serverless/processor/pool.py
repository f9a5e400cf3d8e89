"""The worker pool: ``numWorkers`` processes, dispatch to a free one, timeouts and restarts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from cvat_serverless.processor.worker import worker_main
from cvat_serverless.runtime.encoding import RuntimeResponse
from cvat_serverless.runtime.spec import FunctionSpec

LOG = logging.getLogger("cvat_serverless.processor")
MAX_INIT_ATTEMPTS = 3
STATE_SECRET_ENV = "CVAT_FN_STATE_SECRET"
_SPAWN = multiprocessing.get_context("spawn")


class NoWorkerAvailable(Exception):
    """No worker became free within ``workerAvailabilityTimeoutMilliseconds``."""


class HandlerTimeout(Exception):
    """The handler ran past ``eventTimeout``; its worker was restarted."""


class WorkerCrashed(Exception):
    """The worker process died while handling the event; it was restarted."""


class NotReady(Exception):
    """No worker has finished ``init_context`` (or initialisation failed)."""


@dataclass
class Worker:
    """One worker process and the parent's end of its pipe."""

    worker_id: int
    process: Any = None
    conn: Connection | None = None
    state: str = "starting"
    attempts: int = 0
    pid: int | None = None
    handled: int = 0
    generation: int = 0
    """Bumped at every (re)start: a free-queue entry of an older generation is stale and dropped."""
    restarts: int = 0


@dataclass
class WorkerPool:
    """Runs and supervises the workers of one function."""

    spec: FunctionSpec
    yaml_name: str
    env: Mapping[str, str]
    num_workers: int
    workers: list[Worker] = field(default_factory=list)
    message: str = ""
    _free: asyncio.Queue[tuple[Worker, int]] | None = None

    async def start(self) -> None:
        """Start every worker in the background; readiness follows as they finish init_context."""
        if STATE_SECRET_ENV not in self.env and STATE_SECRET_ENV not in os.environ:
            # Tracker states are signed; all workers of one function must share the secret.
            self.env = {**self.env, STATE_SECRET_ENV: secrets.token_hex(32)}
        self._free = asyncio.Queue()
        self.workers = [Worker(worker_id=i) for i in range(self.num_workers)]
        for worker in self.workers:
            asyncio.get_running_loop().create_task(self._boot(worker))

    @property
    def state(self) -> str:
        """``ready`` when every worker is up, ``error`` when one gave up, else ``building``."""
        states = {worker.state for worker in self.workers}
        if "error" in states:
            return "error"
        if states and states <= {"ready", "busy"}:
            return "ready"
        return "building"

    def status(self) -> dict[str, Any]:
        """The ``/__internal/status`` document."""
        return {
            "function": self.spec.name,
            "state": self.state,
            "message": self.message,
            "workers": [
                {"id": w.worker_id, "pid": w.pid, "state": w.state, "handled": w.handled, "restarts": w.restarts}
                for w in self.workers
            ],
        }

    async def _boot(self, worker: Worker) -> None:
        while worker.attempts < MAX_INIT_ATTEMPTS:
            worker.attempts += 1
            worker.state = "starting"
            parent, child = _SPAWN.Pipe()
            process = _SPAWN.Process(
                target=worker_main,
                args=(child, str(self.spec.function_dir), self.yaml_name, dict(self.env), worker.worker_id),
                daemon=True,
            )
            process.start()
            child.close()
            worker.process, worker.conn = process, parent
            try:
                kind, value = await asyncio.to_thread(parent.recv)
            except (EOFError, OSError):
                kind, value = "error", f"worker {worker.worker_id} exited during init_context"
            if kind == "ready":
                worker.pid, worker.state = int(value), "ready"
                worker.generation += 1
                self.message = ""
                LOG.info("worker %s ready (pid %s)", worker.worker_id, worker.pid)
                self._watch(worker)
                self._release(worker)
                return
            self.message = str(value).strip().splitlines()[0] if value else "init_context failed"
            LOG.error("worker %s failed to start: %s", worker.worker_id, value)
            _kill(worker)
            await asyncio.sleep(0.5 * 2**worker.attempts)
        worker.state = "error"

    async def invoke(self, event: dict[str, Any], body: bytes) -> RuntimeResponse:
        """Send one event to a free worker and wait for its answer (or a timeout).

        A worker found dead before the event reached it (killed while idle) is restarted and the
        event goes to the next free one: it never ran, so it is not answered "worker died".
        """
        if self.state == "error":
            raise NotReady(self.message or "the function failed to start")
        if not any(w.state in ("ready", "busy") or w.restarts for w in self.workers):
            raise NotReady("Server not ready")  # still booting; a restarting worker is waited for below
        deadline = time.monotonic() + self.spec.worker_availability_timeout_s
        while True:
            worker = await self._acquire(deadline)
            started = time.perf_counter()
            assert worker.conn is not None
            try:
                reply = await asyncio.to_thread(_exchange, worker.conn, event, body, self.spec.event_timeout_s)
            except _NotDelivered:
                LOG.warning("worker %s was dead before the event reached it; restarting it", worker.worker_id)
                self._restart(worker)
                continue
            except TimeoutError:
                self._restart(worker)
                raise HandlerTimeout() from None
            except (EOFError, OSError):
                self._restart(worker)
                raise WorkerCrashed(f"worker {worker.worker_id} died while handling the event") from None
            break
        LOG.info(
            "worker %s handled an event in %.1f ms (request %s)",
            worker.worker_id,
            (time.perf_counter() - started) * 1000,
            event.get("headers", {}).get("x-request-id", "-"),
        )
        worker.state = "ready"
        worker.handled += 1
        self._release(worker)
        return reply

    async def _acquire(self, deadline: float) -> Worker:
        """The next free, live worker of the current generation (stale queue entries are dropped)."""
        assert self._free is not None
        while True:
            try:
                worker, generation = await asyncio.wait_for(self._free.get(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise NoWorkerAvailable() from None
            if generation != worker.generation or worker.state != "ready":
                continue
            if worker.process is None or not worker.process.is_alive():
                self._restart(worker)
                continue
            worker.state = "busy"
            return worker

    def _release(self, worker: Worker) -> None:
        assert self._free is not None
        self._free.put_nowait((worker, worker.generation))

    def _watch(self, worker: Worker) -> None:
        """Supervise an idle or busy worker: when its process ends, restart it (readiness stays true)."""
        process, generation = worker.process, worker.generation
        loop = asyncio.get_running_loop()

        def ended() -> None:
            loop.remove_reader(process.sentinel)
            if worker.generation == generation and worker.state == "ready":
                LOG.warning("worker %s (pid %s) exited while idle; restarting it", worker.worker_id, worker.pid)
                self._restart(worker)

        loop.add_reader(process.sentinel, ended)

    def _restart(self, worker: Worker) -> None:
        if worker.process is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(worker.process.sentinel)
        _kill(worker)
        worker.generation += 1
        worker.state = "starting"
        worker.attempts = 0
        worker.pid = None
        worker.restarts += 1
        asyncio.get_running_loop().create_task(self._boot(worker))

    def stop(self) -> None:
        """Terminate every worker."""
        for worker in self.workers:
            _kill(worker)
            worker.state = "stopped"


class _NotDelivered(Exception):
    """The worker's pipe was closed before the event was written: the event never ran."""


def _exchange(conn: Connection, event: dict[str, Any], body: bytes, timeout_s: float) -> RuntimeResponse:
    """Send one event (metadata, then raw body bytes) and wait for the answer; runs in a thread."""
    try:
        conn.send(("event", event))
    except (BrokenPipeError, EOFError, OSError):
        raise _NotDelivered() from None
    conn.send_bytes(body)
    if not conn.poll(timeout_s):
        raise TimeoutError
    kind, meta = conn.recv()
    if kind != "response":
        raise EOFError(kind)
    return RuntimeResponse(
        int(meta["status_code"]), str(meta["content_type"]), dict(meta["headers"]), conn.recv_bytes()
    )


def _kill(worker: Worker) -> None:
    if worker.conn is not None:
        worker.conn.close()
        worker.conn = None
    process = worker.process
    if process is not None and process.is_alive():
        process.terminate()
        process.join(2)
        if process.is_alive():
            process.kill()
            process.join(2)
    worker.process = None
