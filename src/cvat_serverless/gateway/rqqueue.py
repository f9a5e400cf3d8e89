"""``/api/lambda/requests`` on an RQ queue in Redis, run by ``rq worker`` processes (JSON-serialized jobs).

When a worker dies while it runs a job, whoever supervises it (the local stack: the worker's parent)
calls :func:`resume_jobs_of_dead_workers`: the job goes back on the queue at once and goes on from
its checkpoint (RQ itself would mark it abandoned only when its heartbeat expires).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from cvat_serverless.gateway.calls import Caller
from cvat_serverless.gateway.errors import Conflict, GatewayError, NotFound
from cvat_serverless.gateway.jobs import MAX_RESUMES, run_request
from cvat_serverless.gateway.nuclio import NuclioClient, NuclioSettings
from cvat_serverless.gateway.queues import RUNNING, function_call, gave_up, new_request_id
from cvat_serverless.gateway.store import TaskStore

LOG = logging.getLogger("cvat_serverless.gateway")
QUEUE_NAME = "annotation"
CANCEL_KEY = "cvat-serverless:lambda-cancel:{}"
CURRENT_KEY = "cvat-serverless:lambda-task:{}"
JOB_FUNCTION = "cvat_serverless.gateway.rqqueue.rq_job"


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
    """Jobs on an RQ queue in Redis: run ``rq worker annotation --worker-class rq.worker.SimpleWorker
    --serializer rq.serializers.JSONSerializer`` (a SimpleWorker runs the job in its own process, so a
    supervisor that sees it die can resume the job: :func:`resume_jobs_of_dead_workers`).

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
            rq_id = new_request_id(task_id)
            job = self._queue.enqueue_call(
                JOB_FUNCTION,
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
        job = get_current_job()
        run_request(Caller(nuclio, store, secret=""), params, _RqReporter(job), job.id)
    finally:
        nuclio.close()
        store.close()


def resume_jobs_of_dead_workers(redis_url: str, dead_workers: Collection[str] | None = None) -> list[str]:
    """Put back on the queue the jobs that dead workers were running: those named in ``dead_workers``
    (their supervisor saw them exit), or, when None, every worker :func:`worker_is_gone` says is dead.

    Each job goes on from its checkpoint under the same RQ id, so ``GET`` keeps answering for it;
    ``meta["resumes"]`` counts the resumes and past :data:`MAX_RESUMES` the job fails with an
    ``exc_info`` that says so. A cancelled job is deleted instead, never run again. The dead
    workers' registrations are removed. Returns the ids of the jobs put back on the queue.
    """
    import redis
    from rq import Queue, Worker
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus
    from rq.job_lifecycle import record_job_failure
    from rq.serializers import JSONSerializer

    connection = redis.Redis.from_url(redis_url)
    resumed: list[str] = []
    try:
        queue = Queue(QUEUE_NAME, connection=connection, serializer=JSONSerializer)
        registry = queue.started_job_registry
        entries: dict[str, list[str]] = {}  # job id -> its executions' entries in the started registry
        for entry in connection.zrange(registry.key, 0, -1):
            entries.setdefault(entry.decode().split(":", 1)[0], []).append(entry.decode())
        for job_id, stale in entries.items():
            try:
                job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
            except NoSuchJobError:
                continue
            name = job.worker_name
            if job.get_status() != JobStatus.STARTED or not name:
                continue
            if not (name in dead_workers if dead_workers is not None else worker_is_gone(connection, name)):
                continue
            resumes = int(job.meta.get("resumes", 0))
            if connection.exists(CANCEL_KEY.format(job.id)):
                connection.zrem(registry.key, *stale)
                job.delete()
                LOG.warning("request %s: its rq worker %s died after a cancel; deleted", job.id, name)
                continue
            if resumes >= MAX_RESUMES:
                with connection.pipeline() as pipeline:
                    record_job_failure(job, gave_up(resumes), pipeline)
                    pipeline.execute()
            else:
                job.meta["resumes"] = resumes + 1
                job.started_at = None
                queue.enqueue_job(job, at_front=True)  # queued first: a crash between the two loses nothing
                resumed.append(job.id)
            # only the dead executions: a worker may already have started the job again
            connection.zrem(registry.key, *stale)
            fate = "resumed from its checkpoint" if job.id in resumed else f"failed after {resumes} resumes"
            LOG.warning("request %s: its rq worker %s died; %s", job.id, name, fate)
        for name in dead_workers or ():
            worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection=connection)
            if worker is not None:
                worker.register_death()
    finally:
        connection.close()
    return resumed


def worker_is_gone(connection: Any, worker_name: str) -> bool:
    """True when the named worker is known to be dead: its registration expired, or it ran on this
    host and its process is gone (a worker on another host is left to RQ's own heartbeat)."""
    from rq import Worker

    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + worker_name, connection=connection)
    if worker is None:
        return True
    if worker.hostname != socket.gethostname() or not worker.pid:
        return False
    try:
        os.kill(worker.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False
