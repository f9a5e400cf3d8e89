"""Where ``/api/lambda/requests`` jobs run: an in-process worker (embedded default) or RQ on Redis.

Both keep CVAT's rules: one running request per task (409 for a second), progress 0–100, a
cancel (DELETE) that removes the request at once (GET is a 404, a new request for the task is
accepted right away) while its job stops after the current frame and keeps what it saved, and
``FunctionCall`` records with RQ's status names. RQ jobs are JSON-serialized (never pickled).
"""

from __future__ import annotations

import contextlib
import os
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from cvat_serverless.gateway.calls import Caller
from cvat_serverless.gateway.errors import Conflict, GatewayError, NotFound
from cvat_serverless.gateway.jobs import run_request
from cvat_serverless.gateway.nuclio import NuclioClient, NuclioSettings
from cvat_serverless.gateway.store import TaskStore, now

QUEUE_NAME = "annotation"
RUNNING = ("queued", "started", "scheduled", "deferred")
CANCEL_KEY = "cvat-serverless:lambda-cancel:{}"
CURRENT_KEY = "cvat-serverless:lambda-task:{}"


def request_id(task_id: int) -> str:
    """One id per task, so a second request on a running task is a conflict (as in CVAT)."""
    return f"lambda-autoannotate-task-{task_id}"


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


class RequestQueue(Protocol):
    def submit(self, params: Mapping[str, Any]) -> dict[str, Any]: ...

    def get(self, rq_id: str) -> dict[str, Any]: ...

    def list(self) -> list[dict[str, Any]]: ...

    def cancel(self, rq_id: str) -> None: ...

    def close(self) -> None: ...


@dataclass
class _Record:
    params: Mapping[str, Any]
    status: str = "queued"
    progress: int = 0
    enqueued: str = field(default_factory=now)
    started: str | None = None
    ended: str | None = None
    exc_info: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def as_call(self, rq_id: str) -> dict[str, Any]:
        return function_call(
            rq_id, self.params, self.status, self.progress, self.enqueued, self.started, self.ended, self.exc_info
        )


class _EventReporter:
    def __init__(self, record: _Record) -> None:
        self.record = record

    def progress(self, percent: int) -> None:
        self.record.progress = max(0, min(100, percent))

    def cancelled(self) -> bool:
        return self.record.cancel.is_set()


class InProcessQueue:
    """Jobs on threads of this process (``workers`` at a time)."""

    def __init__(self, caller_factory: Callable[[], Caller], workers: int = 1) -> None:
        self._caller_factory = caller_factory
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda-request")
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def submit(self, params: Mapping[str, Any]) -> dict[str, Any]:
        rq_id = request_id(int(params["task"]))
        with self._lock:
            old = self._records.get(rq_id)
            if old is not None and old.status in RUNNING and not old.cancel.is_set():
                raise Conflict(f"Only one running request is allowed for the same task #{params['task']}")
            record = self._records[rq_id] = _Record(params=dict(params))
        self._pool.submit(self._run, record)
        return record.as_call(rq_id)

    def _run(self, record: _Record) -> None:
        if record.cancel.is_set():
            return
        record.status, record.started = "started", now()
        try:
            run_request(self._caller_factory(), record.params, _EventReporter(record))
            record.status = "finished"
        except Exception:  # a failed job reports its traceback, as RQ does
            record.status, record.exc_info = "failed", traceback.format_exc()
        record.ended = now()

    def _record(self, rq_id: str) -> _Record:
        record = self._records.get(rq_id)
        if record is None or record.cancel.is_set():
            raise NotFound(f"{rq_id} lambda job is not found")
        return record

    def get(self, rq_id: str) -> dict[str, Any]:
        return self._record(rq_id).as_call(rq_id)

    def list(self) -> list[dict[str, Any]]:
        return [r.as_call(i) for i, r in list(self._records.items()) if not r.cancel.is_set() and r.status != "failed"]

    def cancel(self, rq_id: str) -> None:
        """Forget the request (CVAT deletes the RQ job); its thread stops after the frame it is on."""
        with self._lock:
            record = self._record(rq_id)
            record.cancel.set()
            if record.status == "queued":
                record.status, record.ended = "canceled", now()
            del self._records[rq_id]

    def close(self) -> None:
        for record in self._records.values():
            record.cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@contextlib.contextmanager
def redis_unavailable_is_503() -> Iterator[None]:
    """Redis down or not answering: a 503 that says so (CVAT's views would fail with a bare 500)."""
    import redis

    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
        raise GatewayError(f"the request queue (Redis) is unavailable: {error}", 503) from None


class RqQueue:
    """Jobs on an RQ queue in Redis: run ``rq worker annotation --serializer rq.serializers.JSONSerializer``.

    Every public method answers a 503 :class:`GatewayError` while Redis cannot be reached."""

    def __init__(self, redis_url: str, settings: Mapping[str, Any]) -> None:
        import redis
        from rq import Queue
        from rq.serializers import JSONSerializer

        self._redis = redis.Redis.from_url(redis_url)
        self._queue = Queue(QUEUE_NAME, connection=self._redis, serializer=JSONSerializer)
        self._settings = dict(settings)

    def _job(self, rq_id: str) -> Any:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job
        from rq.serializers import JSONSerializer

        if self._redis.exists(CANCEL_KEY.format(rq_id)):
            raise NotFound(f"{rq_id} lambda job is not found")
        try:
            return Job.fetch(rq_id, connection=self._redis, serializer=JSONSerializer)
        except NoSuchJobError:
            raise NotFound(f"{rq_id} lambda job is not found") from None

    def submit(self, params: Mapping[str, Any]) -> dict[str, Any]:
        with redis_unavailable_is_503():
            return self._submit(params)

    def _submit(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Enqueue under a fresh job id; the task's current request (unless cancelled) must not be running.

        Each request gets its own RQ id, so a job that is still finishing its frame after a DELETE
        can never overwrite the job of the request that followed it.
        """
        task_id = int(params["task"])
        with self._redis.lock(f"cvat-serverless:lambda-lock:{task_id}", timeout=30, blocking_timeout=30):
            current = self._redis.get(CURRENT_KEY.format(task_id))
            if current is not None:
                old_id = current.decode()
                if not self._redis.exists(CANCEL_KEY.format(old_id)):
                    if self._is_running(old_id):
                        raise Conflict(f"Only one running request is allowed for the same task #{task_id}")
                    self._delete(old_id)
            rq_id = f"{request_id(task_id)}-{uuid.uuid4().hex[:12]}"
            job = self._queue.enqueue_call(
                "cvat_serverless.gateway.queues.rq_job",
                args=(dict(params), self._settings),
                job_id=rq_id,
                timeout=24 * 3600,
                result_ttl=30 * 60,
                failure_ttl=3 * 3600,
                meta={"progress": 0, "params": dict(params)},
            )
            self._redis.set(CURRENT_KEY.format(task_id), rq_id, ex=24 * 3600)
        return self._as_call(job)

    def _delete(self, rq_id: str) -> None:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job
        from rq.serializers import JSONSerializer

        with contextlib.suppress(NoSuchJobError):
            Job.fetch(rq_id, connection=self._redis, serializer=JSONSerializer).delete()

    def _is_running(self, rq_id: str) -> bool:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job
        from rq.serializers import JSONSerializer

        try:
            return Job.fetch(rq_id, connection=self._redis, serializer=JSONSerializer).get_status() in RUNNING
        except NoSuchJobError:
            return False

    def _as_call(self, job: Any) -> dict[str, Any]:
        job.refresh()
        status = str(getattr(job.get_status(), "value", job.get_status()))
        exc_info = None
        if status == "failed":
            result = job.latest_result()
            exc_info = getattr(result, "exc_string", None) or "failed"
        return function_call(
            job.id,
            job.meta.get("params", {}),
            status,
            int(job.meta.get("progress", 0)),
            _iso(job.enqueued_at),
            _iso(job.started_at),
            _iso(job.ended_at),
            exc_info,
        )

    def get(self, rq_id: str) -> dict[str, Any]:
        with redis_unavailable_is_503():
            return self._as_call(self._job(rq_id))

    def list(self) -> list[dict[str, Any]]:
        with redis_unavailable_is_503():
            return self._list()

    def _list(self) -> list[dict[str, Any]]:
        from rq.job import Job
        from rq.serializers import JSONSerializer

        ids = set(self._queue.get_job_ids())
        for registry in (self._queue.started_job_registry, self._queue.finished_job_registry):
            ids.update(registry.get_job_ids())
        calls = []
        for job in Job.fetch_many(sorted(ids), connection=self._redis, serializer=JSONSerializer):
            if job is not None and job.id.startswith("lambda-") and not self._redis.exists(CANCEL_KEY.format(job.id)):
                call = self._as_call(job)
                if call["status"] != "failed":
                    calls.append(call)
        return calls

    def cancel(self, rq_id: str) -> None:
        with redis_unavailable_is_503():
            self._cancel(rq_id)

    def _cancel(self, rq_id: str) -> None:
        job = self._job(rq_id)
        self._redis.set(CANCEL_KEY.format(rq_id), "1", ex=24 * 3600)
        if job.get_status() in ("queued", "scheduled", "deferred"):
            job.cancel()

    def close(self) -> None:
        self._redis.close()


class _RqReporter:
    def __init__(self, job: Any) -> None:
        self.job = job
        self._redis = job.connection

    def progress(self, percent: int) -> None:
        self.job.meta["progress"] = max(0, min(100, percent))
        self.job.save_meta()

    def cancelled(self) -> bool:
        return bool(self._redis.exists(CANCEL_KEY.format(self.job.id)))


def rq_job(params: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
    """The RQ entry point: open the store and the dashboard client named in ``settings`` and run."""
    from rq import get_current_job

    env = {**settings.get("nuclio_env", {}), **{k: v for k, v in os.environ.items() if k == "CVAT_NUCLIO_TOKEN"}}
    nuclio = NuclioClient(NuclioSettings.from_env(env))
    store = TaskStore(settings["data_dir"])
    try:
        run_request(Caller(nuclio, store, secret=""), params, _RqReporter(get_current_job()))
    finally:
        nuclio.close()
        store.close()
