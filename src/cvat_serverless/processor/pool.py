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
from multiprocessing.reduction import send_handle
from typing import Any

from cvat_serverless.processor.shared_body import SharedBody
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
    body: SharedBody | None = None
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
            worker.process, worker.conn, worker.body = process, parent, SharedBody.create()
            try:
                send_handle(parent, worker.body.fd, process.pid)
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
            try:
                reply = await _exchange(worker, event, body, self.spec.event_timeout_s)
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
            except asyncio.CancelledError:
                # Its answer would still come down the pipe and be read as the next event's: start afresh.
                self._restart(worker)
                raise
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
                worker, generation = self._free.get_nowait()  # the usual case, without a timer task
            except asyncio.QueueEmpty:
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


async def _exchange(worker: Worker, event: dict[str, Any], body: bytes, timeout_s: float) -> RuntimeResponse:
    """Send one event (metadata over the pipe, the body through the shared area) and wait for the answer.

    Runs on the event loop: the answer is awaited as the pipe becoming readable, so no thread is
    woken per event. Every read and write is of a small message the other side is ready for.
    """
    conn, shared = worker.conn, worker.body
    assert conn is not None and shared is not None
    size = shared.put(body)
    try:
        conn.send(("event", event, size))
    except (BrokenPipeError, EOFError, OSError):
        raise _NotDelivered() from None
    await _readable(conn.fileno(), timeout_s)
    kind, meta, size = conn.recv()
    if kind != "response":
        raise EOFError(kind)
    status, content_type, headers = int(meta["status_code"]), str(meta["content_type"]), dict(meta["headers"])
    return RuntimeResponse(status, content_type, headers, shared.take(size))


async def _readable(fd: int, timeout_s: float) -> None:
    """Wait until ``fd`` can be read (an answer, or the end of file of a dead worker); else TimeoutError."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await asyncio.wait_for(ready, timeout_s)
    finally:
        loop.remove_reader(fd)
        os.set_blocking(fd, True)  # the loop made it non-blocking; the Connection reads and writes blocking


def _kill(worker: Worker) -> None:
    if worker.conn is not None:
        worker.conn.close()
        worker.conn = None
    if worker.body is not None:
        worker.body.close()
        worker.body = None
    process = worker.process
    if process is not None and process.is_alive():
        process.terminate()
        process.join(2)
        if process.is_alive():
            process.kill()
            process.join(2)
    worker.process = None
