"""Where ``/api/lambda/requests`` jobs run: an in-process worker (embedded default) or RQ on Redis (:mod:`rqqueue`).

Both keep CVAT's rules: one running request per task (409 for a second), progress 0–100, a
cancel (DELETE) that removes the request at once (GET is a 404, a new request for the task is
accepted right away) while its job stops after the current frame and keeps what it saved, and
``FunctionCall`` records with RQ's status names. RQ jobs are JSON-serialized (never pickled).
"""

from __future__ import annotations

import logging
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from cvat_serverless.gateway.calls import Caller
from cvat_serverless.gateway.errors import NotFound
from cvat_serverless.gateway.jobs import MAX_RESUMES, RequestInterrupted, run_request
from cvat_serverless.gateway.requeststore import UNFINISHED
from cvat_serverless.gateway.store import TaskStore, now

LOG = logging.getLogger("cvat_serverless.gateway")
RUNNING = ("queued", "started", "scheduled", "deferred")


def new_request_id(task_id: int) -> str:
    """A fresh id for a request on the task (CVAT's ids are opaque strings). Each request gets its own,
    so a job still finishing its frame after a DELETE never writes the record or the checkpoint of
    the request that followed it."""
    return f"lambda-autoannotate-task-{task_id}-{uuid.uuid4().hex[:12]}"


def function_call(
    rq_id: str,
    params: Mapping[str, Any],
    status: str,
    progress: int,
    enqueued: str | None,
    started: str | None,
    ended: str | None,
    exc_info: str | None,
) -> dict[str, Any]:
    """The ``FunctionCall`` object cvat-sdk parses (``job`` only when set)."""
    function = {"id": params["function"], "task": params["task"], "threshold": params.get("threshold")}
    if params.get("job") is not None:
        function["job"] = params["job"]
    return {
        "id": rq_id,
        "function": function,
        "status": "queued" if status == "deferred" else status,
        "progress": int(progress),
        "enqueued": enqueued,
        "started": started,
        "ended": ended,
        "exc_info": exc_info,
    }


def gave_up(resumes: int) -> str:
    """The ``exc_info`` of a request whose runner died once more after its last allowed resume."""
    return (
        f"what ran this request died {resumes + 1} times (it was resumed {resumes} times from its checkpoint);"
        " it is not resumed again. The frames it saved are kept."
    )


class RequestQueue(Protocol):
    def submit(self, params: Mapping[str, Any]) -> dict[str, Any]: ...

    def get(self, rq_id: str) -> dict[str, Any]: ...

    def list(self) -> list[dict[str, Any]]: ...

    def cancel(self, rq_id: str) -> None: ...

    def close(self) -> None: ...


@dataclass
class _Running:
    """What this process holds of a request it runs: live progress and the cancel signal."""

    progress: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)


class _ThreadReporter:
    def __init__(self, running: _Running, stopping: threading.Event) -> None:
        self.running = running
        self.stopping = stopping

    def progress(self, percent: int) -> None:
        self.running.progress = max(0, min(100, percent))

    def cancelled(self) -> bool:
        if self.running.cancel.is_set():
            return True
        if self.stopping.is_set():
            raise RequestInterrupted("the gateway is stopping; the request resumes when it starts again")
        return False


class InProcessQueue:
    """Jobs on threads of this process (``workers`` at a time), their records kept in the task store.

    A gateway started again on the same data folder answers for the requests of the one before and
    resumes those that were queued or running from their checkpoints (a request whose runner died
    more than :data:`MAX_RESUMES` times fails instead). A cancelled request is deleted at once, so it
    is never resumed. Stopping the gateway (``close``) leaves unfinished requests queued.
    """

    def __init__(self, caller_factory: Callable[[], Caller], store: TaskStore, workers: int = 1) -> None:
        self._caller_factory = caller_factory
        self._store = store
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda-request")
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._resume()

    def _resume(self) -> None:
        for request in self._store.requests(UNFINISHED):
            rq_id, resumes = request["id"], int(request["resumes"])
            if request["status"] == "started":  # the process running it died
                if resumes >= MAX_RESUMES:
                    self._store.update_request(rq_id, status="failed", exc_info=gave_up(resumes), ended=now())
                    continue
                resumes += 1
                LOG.warning("resuming request %s from its checkpoint (resume %s of %s)", rq_id, resumes, MAX_RESUMES)
            self._store.update_request(rq_id, status="queued", started=None, resumes=resumes)
            self._start(rq_id, int(request["progress"]))

    def _start(self, rq_id: str, progress: int = 0) -> None:
        with self._lock:
            running = self._running[rq_id] = _Running(progress=progress)
        self._pool.submit(self._run, rq_id, running)

    def submit(self, params: Mapping[str, Any]) -> dict[str, Any]:
        rq_id = new_request_id(int(params["task"]))
        self._store.add_request(rq_id, params)
        self._start(rq_id)
        return self.get(rq_id)

    def _run(self, rq_id: str, running: _Running) -> None:
        try:
            self._execute(rq_id, running)
        finally:
            with self._lock:
                self._running.pop(rq_id, None)

    def _execute(self, rq_id: str, running: _Running) -> None:
        request = self._store.request(rq_id)
        if request is None or running.cancel.is_set():
            return
        if not self._store.update_request(rq_id, status="started", started=now()):
            return
        try:
            run_request(self._caller_factory(), request["params"], _ThreadReporter(running, self._stopping), rq_id)
            changes: dict[str, Any] = {"status": "finished", "ended": now()}
        except RequestInterrupted:
            changes = {"status": "queued", "started": None}
        except Exception:  # a failed job reports its traceback, as RQ does
            changes = {"status": "failed", "exc_info": traceback.format_exc(), "ended": now()}
        self._store.update_request(rq_id, progress=running.progress, **changes)  # False: it was cancelled

    def _call(self, request: Mapping[str, Any]) -> dict[str, Any]:
        running = self._running.get(request["id"])
        progress = running.progress if running is not None else request["progress"]
        return function_call(
            request["id"],
            request["params"],
            request["status"],
            progress,
            request["enqueued"],
            request["started"],
            request["ended"],
            request["exc_info"],
        )

    def get(self, rq_id: str) -> dict[str, Any]:
        request = self._store.request(rq_id)
        if request is None:
            raise NotFound(f"{rq_id} lambda job is not found")
        return self._call(request)

    def list(self) -> list[dict[str, Any]]:
        return [self._call(r) for r in self._store.requests() if r["status"] != "failed"]

    def cancel(self, rq_id: str) -> None:
        """Forget the request (CVAT deletes the RQ job); its thread stops after the frame it is on."""
        with self._lock:
            if not self._store.delete_request(rq_id):
                raise NotFound(f"{rq_id} lambda job is not found")
            running = self._running.get(rq_id)
            if running is not None:
                running.cancel.set()

    def close(self) -> None:
        """Stop: running requests stop at their next frame and stay queued, to resume at the next start."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
