"""CVAT's ``/api/jobs``: the task's segment jobs, ground-truth jobs, and job-level annotations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cvat_serverless.gateway import access
from cvat_serverless.gateway.auth_api import current_user
from cvat_serverless.gateway.errors import GatewayError, ValidationFailed
from cvat_serverless.gateway.http import both, json_body, listing, path_int, read_body
from cvat_serverless.gateway.jobstore import job_frames, now
from cvat_serverless.gateway.numbers import query_int
from cvat_serverless.gateway.segments import ground_truth_frames
from cvat_serverless.gateway.tasks_api import TaskApi, annotation_request

JOB_TYPES = ("annotation", "ground_truth", "consensus_replica")
STAGES = ("annotation", "validation", "acceptance")
STATES = ("new", "in progress", "completed", "rejected")
GT_FIELDS = frozenset(
    {"type", "task_id", "frame_selection_method", "frames", "frame_count", "frame_share"}
    | {"frames_per_job_count", "frames_per_job_share", "random_seed", "assignee"}
)

COMMON_GT_FIELDS = frozenset({"type", "task_id", "frame_selection_method", "assignee"})
USED_BY_METHOD = {
    "random_uniform": COMMON_GT_FIELDS | {"frame_count", "frame_share", "random_seed"},
    "random_per_job": COMMON_GT_FIELDS | {"frames_per_job_count", "frames_per_job_share", "random_seed"},
    "manual": COMMON_GT_FIELDS | {"frames"},
}


def job_status(stage: str, state: str) -> str:
    """``JobWriteSerializer.update``'s status: annotation, completed (accepted and done) or validation."""
    if stage == "annotation":
        return "annotation"
    return "completed" if stage == "acceptance" and state == "completed" else "validation"


@dataclass
class JobApi:
    """Job routes over the task API's store and accounts."""

    tasks: TaskApi

    def job_read(self, request: Request, job: Mapping[str, Any], task: Mapping[str, Any]) -> dict[str, Any]:
        """``JobReadSerializer``'s fields (no projects, guides or storages here)."""
        base = str(request.base_url).rstrip("/")
        return {
            "url": f"{base}/api/jobs/{job['id']}",
            "id": job["id"],
            "task_id": task["id"],
            "task_name": task["name"],
            "project_id": None,
            "project_name": None,
            "assignee": self.tasks._user(base, job["assignee_id"]),
            "guide_id": None,
            "dimension": "2d",
            "mode": "annotation",
            "media_type": "image",
            "bug_tracker": None,
            "status": job_status(job["stage"], job["state"]),
            "stage": job["stage"],
            "state": job["state"],
            "frame_count": len(job_frames(job)),
            "start_frame": job["start_frame"],
            "stop_frame": job["stop_frame"],
            "data_chunk_size": task["chunk_size"],
            "data_compressed_chunk_type": "imageset",
            "data_original_chunk_type": "imageset",
            "created_date": job["created"],
            "updated_date": job["updated"],
            "issues": {"count": 0, "url": f"{base}/api/issues?job_id={job['id']}"},
            "labels": {"url": f"{base}/api/labels?job_id={job['id']}"},
            "type": job["type"],
            "organization": None,
            "target_storage": None,
            "source_storage": None,
            "assignee_updated_date": None,
            "parent_job_id": None,
            "consensus_replicas": 0,
            "replicas_count": 0,
        }

    def visible_job(self, request: Request, job_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """The job and its task, or a 403 unless the user is the job's assignee, task staff or an admin."""
        job = self.tasks.store.job(job_id)
        task = self.tasks.store.task(job["task_id"])
        access.require(access.is_job_staff(current_user(request), task, job))
        return job, task

    async def jobs(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._create(request)
        query, user = request.query_params, current_user(request)
        task_id = query_int(query, "task_id") if query.get("task_id") is not None else None
        store = self.tasks.store
        rows = await run_in_threadpool(store.jobs, task_id)
        results = []
        for job in sorted(rows, key=lambda j: -j["id"]):  # CVAT lists jobs newest first ("-id")
            task = store.task(job["task_id"])
            if access.is_job_staff(user, task, job) and query.get("type", job["type"]) == job["type"]:
                results.append(self.job_read(request, job, task))
        return listing(results)

    async def _create(self, request: Request) -> Response:
        body = json_body(await read_body(request, 1024 * 1024))
        if body.get("type") not in JOB_TYPES:
            raise ValidationFailed(
                {
                    "type": [f'"{body.get("type")}" is not a valid choice.']
                    if "type" in body
                    else ["This field is required."]
                }
            )
        if isinstance(body.get("task_id"), bool) or not isinstance(body.get("task_id"), int):
            raise ValidationFailed(
                {"task_id": ["This field is required." if "task_id" not in body else "A valid integer is required."]}
            )
        store = self.tasks.store
        task = store.task(body["task_id"])
        access.require(access.can_manage_ground_truth(current_user(request), task))
        if body["type"] != "ground_truth":
            raise ValidationFailed([f"Unexpected job type '{body['type']}'"])
        if not task["size"]:
            raise ValidationFailed(["This task has no data attached yet. Please set up task data and try again"])
        ranges = [range(j["start_frame"], j["stop_frame"] + 1) for j in store.annotation_jobs(task["id"])]
        frames = ground_truth_frames(body, int(task["size"]), int(task["segment_size"]), ranges)
        used = USED_BY_METHOD.get(str(body.get("frame_selection_method")), frozenset())
        unused = [key for key in body if key in GT_FIELDS | {"stage", "state"} and key not in used]
        if unused:
            raise ValidationFailed(
                [f"Fields {', '.join(repr(k).replace(chr(39), chr(34)) for k in unused)} specified, but not used."]
            )
        assignee = body.get("assignee")
        self.tasks._check_users(assignee=assignee)
        job = await run_in_threadpool(store.create_ground_truth_job, task["id"], frames, assignee, now())
        return JSONResponse(self.job_read(request, job, task), status_code=201)

    async def job(self, request: Request) -> Response:
        job, task = self.visible_job(request, path_int(request))
        user = current_user(request)
        if request.method == "DELETE":
            access.require(access.can_manage_ground_truth(user, task))
            if job["type"] != "ground_truth":
                raise ValidationFailed(["Only ground truth jobs can be removed"])
            await run_in_threadpool(self.tasks.store.delete_job, job["id"])
            return Response(status_code=204)
        if request.method == "PATCH":
            job = await self._update(request, job, task)
        return JSONResponse(self.job_read(request, job, task))

    async def _update(self, request: Request, job: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
        body = json_body(await read_body(request, 1024 * 1024))
        changes: dict[str, Any] = {}
        for key, choices in (("stage", STAGES), ("state", STATES)):
            if key in body:
                if body[key] not in choices:
                    raise ValidationFailed({key: [f'"{body[key]}" is not a valid choice.']})
                changes[key] = body[key]
        if "stage" in changes and "state" not in changes and changes["stage"] != job["stage"]:
            changes["state"] = "new"  # CVAT resets the state when the stage changes
        if "assignee" in body:
            access.require(access.is_task_staff(current_user(request), task))  # update:assignee
            self.tasks._check_users(assignee=body["assignee"])
            changes["assignee_id"] = body["assignee"]
        return await run_in_threadpool(self.tasks.store.update_job, job["id"], changes, now())

    async def annotations(self, request: Request) -> Response:
        job_id = path_int(request)
        self.visible_job(request, job_id)
        store = self.tasks.store
        if request.method == "GET":
            return JSONResponse(await run_in_threadpool(store.job_annotations, job_id))
        if request.method == "DELETE":
            await run_in_threadpool(store.clear_job_annotations, job_id)
            return Response(status_code=204)
        if {"upload-start", "upload-finish", "tus-resumable"} & set(request.headers.keys()):
            raise GatewayError("annotation file import is not supported here; send the annotations as JSON", 405)
        data, action = await annotation_request(request, self.tasks.max_body)
        return JSONResponse(await run_in_threadpool(store.change_job_annotations, job_id, data, action))

    def routes(self) -> list[Route]:
        return [
            *[Route(p, self.jobs, methods=["GET", "POST"]) for p in both("/api/jobs")],
            *[Route(p, self.job, methods=["GET", "PATCH", "DELETE"]) for p in both("/api/jobs/{id}")],
            *[
                Route(p, self.annotations, methods=["GET", "PUT", "PATCH", "DELETE", "POST"])
                for p in both("/api/jobs/{id}/annotations")
            ],
        ]
