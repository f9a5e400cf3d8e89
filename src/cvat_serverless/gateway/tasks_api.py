"""The small CVAT task API cvat-sdk needs: about, login, tasks, data upload, frames, labels, jobs, annotations."""

from __future__ import annotations

import base64
import io
import re
import threading
import uuid
import zipfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cvat_serverless.gateway import access
from cvat_serverless.gateway.annotations import ACTIONS, parse
from cvat_serverless.gateway.auth import Accounts
from cvat_serverless.gateway.auth_api import current_user
from cvat_serverless.gateway.errors import BadRequest, GatewayError, NotFound, ValidationFailed
from cvat_serverless.gateway.http import both, json_body, listing, path_int, read_body
from cvat_serverless.gateway.segments import validate_data_params
from cvat_serverless.gateway.store import TaskStore, now

SERVER_VERSION = "2.80.0"
UPLOAD_LIMIT = 100 * 1024 * 1024
TUS_CHUNK_LIMIT = 16 * 1024 * 1024
Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class _TusUpload:
    task_id: int
    filename: str
    length: int
    path: Path
    offset: int = 0


@dataclass
class TaskApi:
    """Routes over one :class:`TaskStore`; ``share_dir`` is the server-side share for ``server_files``."""

    store: TaskStore
    accounts: Accounts
    share_dir: Path | None = None
    base_url: str = ""
    max_body: int = UPLOAD_LIMIT + 1024 * 1024
    _requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    _tus: dict[str, _TusUpload] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- objects ---------------------------------------------------------------------------------

    def task_read(self, request: Request, task: Mapping[str, Any]) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        size = int(task["size"])
        jobs = self.store.jobs(int(task["id"]))
        return {
            "id": task["id"],
            "url": f"{base}/api/tasks/{task['id']}",
            "name": task["name"],
            "size": size,
            "mode": "annotation",
            "status": "annotation",
            "owner": self._user(base, task["owner_id"]),
            "assignee": self._user(base, task["assignee_id"]),
            "bug_tracker": "",
            "created_date": task["created"],
            "updated_date": task["updated"],
            "overlap": task["overlap"],
            "segment_size": task["segment_size"],
            "data_chunk_size": task["chunk_size"] if size else None,
            "data_original_chunk_type": "imageset",
            "data_compressed_chunk_type": "imageset",
            "image_quality": task["image_quality"],
            "data": task["id"] if size else None,
            "dimension": "2d",
            "media_type": "image",
            "subset": "",
            "organization": None,
            "project_id": None,
            "target_storage": None,
            "source_storage": None,
            "validation_mode": "gt" if any(j["type"] == "ground_truth" for j in jobs) else None,
            "jobs": {
                "count": len(jobs),
                "completed": sum(j["state"] == "completed" and j["stage"] == "acceptance" for j in jobs),
                "validation": sum(j["stage"] == "validation" for j in jobs),
                "url": f"{base}/api/jobs?task_id={task['id']}",
            },
            "labels": {"url": f"{base}/api/labels?task_id={task['id']}"},
        }

    def _user(self, base: str, user_id: int | None) -> dict[str, Any] | None:
        user = self.accounts.users.get(user_id) if user_id is not None else None
        return user.basic(base) if user is not None else None

    def visible_task(self, request: Request, task_id: int) -> dict[str, Any]:
        """The task, or a 403 when the request's user is not its owner, assignee or an admin."""
        task = self.store.task(task_id)
        access.require(access.is_task_staff(current_user(request), task))
        return task

    def _data_request(self, task_id: int, status: str, message: str = "") -> str:
        rq_id = f"create-task-{task_id}-{uuid.uuid4().hex[:8]}"
        stamp = now()
        with self._lock:
            self._requests[rq_id] = {
                "id": rq_id,
                "status": status,
                "message": message,
                "operation": {"type": "create:task", "target": "task", "task_id": task_id},
                "created_date": stamp,
                "started_date": stamp,
                "finished_date": stamp,
                "progress": 1.0 if status == "finished" else 0.0,
                "owner": self._user("", self.store.task(task_id)["owner_id"]),
                "result_url": None,
                "result_id": None,
            }
        return rq_id

    # --- endpoints -------------------------------------------------------------------------------

    async def about(self, request: Request) -> Response:
        return JSONResponse(
            {
                "name": "cvat-serverless local server",
                "description": "A test and local-use server: tasks and CVAT's lambda API, not a CVAT replacement.",
                "version": SERVER_VERSION,
                "logo_url": "",
                "subtitle": "cvat-serverless",
            }
        )

    async def tasks(self, request: Request) -> Response:
        user = current_user(request)
        if request.method == "POST":
            access.require(access.can_create_task(user))
            data = json_body(await read_body(request, 4 * 1024 * 1024))
            task = await run_in_threadpool(self._create_task, data, user.id)
            return JSONResponse(self.task_read(request, task), status_code=201)
        rows = await run_in_threadpool(self.store.tasks)
        results = [self.task_read(request, task) for task in rows if access.is_task_staff(user, task)]
        return listing(results)

    def _create_task(self, data: Mapping[str, Any], owner_id: int) -> dict[str, Any]:
        errors = {}
        for key in ("segment_size", "overlap"):
            value = data.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                errors[key] = ["Ensure this value is greater than or equal to 0."]
        if errors:
            raise ValidationFailed(errors)
        if data.get("overlap"):
            raise BadRequest("overlap is not supported by this server (CVAT's image tasks default to 0)")
        owner = data.get("owner_id") if data.get("owner_id") is not None else owner_id
        assignee = data.get("assignee_id")
        self._check_users(owner_id=owner, assignee_id=assignee)
        return self.store.create_task(
            data.get("name"), data.get("labels") or [], data.get("segment_size") or 0,
            owner_id=int(owner), assignee_id=assignee,
        )  # fmt: skip

    def _check_users(self, **ids: Any) -> None:
        for key, value in ids.items():
            if value is not None and (not isinstance(value, int) or self.accounts.users.get(value) is None):
                raise ValidationFailed({key: [f'Invalid pk "{value}" - object does not exist.']})

    async def task(self, request: Request) -> Response:
        task_id = path_int(request)
        task = self.visible_task(request, task_id)
        user = current_user(request)
        if request.method == "DELETE":
            access.require(access.can_delete_task(user, task))
            await run_in_threadpool(self.store.delete_task, task_id)
            return Response(status_code=204)
        if request.method == "PATCH":
            data = json_body(await read_body(request, 1024 * 1024))
            changes = {k: data[k] for k in ("name", "owner_id", "assignee_id") if k in data}
            if {"owner_id", "assignee_id"} & changes.keys():
                access.require(access.can_delete_task(user, task))  # update:owner / update:assignee
            self._check_users(**{k: v for k, v in changes.items() if k != "name"})
            task = await run_in_threadpool(self.store.update_task, task_id, changes)
        return JSONResponse(self.task_read(request, task))

    async def data(self, request: Request) -> Response:
        task_id = path_int(request)
        self.visible_task(request, task_id)
        if request.method == "GET":
            return await run_in_threadpool(self._read_data, task_id, dict(request.query_params))
        headers = request.headers
        if "upload-start" in headers:
            return Response(status_code=202)
        if "upload-multiple" in headers:
            await self._save_multipart(request, task_id)
            return Response(status_code=200)
        if "tus-resumable" in headers and "upload-length" in headers:
            return self._tus_create(request, task_id)
        params = json_body(await read_body(request, 1024 * 1024))
        validate_data_params(params)
        if "upload-finish" in headers:
            files = sorted(self.store.upload_dir(task_id).iterdir())
        elif params.get("server_files"):
            files = self._server_files(params["server_files"])
        elif params.get("remote_files"):
            raise BadRequest("remote_files are not supported: this server downloads nothing; use server_files")
        else:
            raise BadRequest("expected Upload-Start/Multiple/Finish headers or a JSON body with server_files")
        try:
            await run_in_threadpool(
                self.store.attach_frames,
                task_id,
                files,
                order=str(params.get("sorting_method", "lexicographical")),
                image_quality=int(params.get("image_quality", 70)),
                chunk_size=params.get("chunk_size") or None,
                explicit_order=params.get("upload_file_order"),
                start_frame=params.get("start_frame", 0),
                stop_frame=params.get("stop_frame", 0),
                frame_filter=params.get("frame_filter", ""),
            )
            rq_id = self._data_request(task_id, "finished")
        except GatewayError as error:
            rq_id = self._data_request(task_id, "failed", error.message)
        return JSONResponse({"rq_id": rq_id}, status_code=202)

    async def _save_multipart(self, request: Request, task_id: int) -> None:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body:
            raise GatewayError(f"upload of {declared} bytes is over the {self.max_body}-byte limit", 413)
        target = self.store.upload_dir(task_id)
        async with request.form(max_files=10000, max_fields=100) as form:
            for key, value in form.multi_items():
                if key.startswith("client_files") and hasattr(value, "read"):
                    name = Path(str(value.filename or "")).name
                    if not name or name.startswith("."):
                        raise BadRequest(f"an uploaded file has no usable name: {value.filename!r}")
                    (target / name).write_bytes(await value.read())

    def _server_files(self, names: Any) -> list[Path]:
        if self.share_dir is None:
            raise BadRequest("this server has no share folder (start it with --share-dir)")
        root = self.share_dir.resolve()
        files: list[Path] = []
        for name in names if isinstance(names, list) else []:
            path = (root / str(name)).resolve()
            if not path.is_relative_to(root) or not path.exists():
                raise BadRequest(f"{name!r} is not in the share folder")
            files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        return files

    def _tus_create(self, request: Request, task_id: int) -> Response:
        length = request.headers.get("upload-length", "")
        if not length.isdigit():
            raise BadRequest("Upload-Length must be a non-negative integer")
        metadata = dict(
            item.strip().split(" ", 1) for item in request.headers.get("upload-metadata", "").split(",") if " " in item
        )
        try:
            filename = Path(base64.b64decode(metadata.get("filename", "")).decode()).name
        except (ValueError, UnicodeDecodeError):
            filename = ""
        if not filename:
            raise BadRequest("Upload-Metadata must carry a base64 filename")
        file_id = uuid.uuid4().hex
        path = self.store.upload_dir(task_id) / filename
        path.write_bytes(b"")
        with self._lock:
            self._tus[file_id] = _TusUpload(task_id, filename, int(length), path)
        location = f"{str(request.base_url).rstrip('/')}/api/tasks/{task_id}/data/{file_id}"
        return Response(
            status_code=201, headers={"Location": location, "Upload-Filename": filename, "Tus-Resumable": "1.0.0"}
        )

    async def tus_chunk(self, request: Request) -> Response:
        upload = self._tus.get(request.path_params["file_id"])
        if upload is None or upload.task_id != path_int(request):
            raise NotFound("unknown upload")
        headers = {"Upload-Offset": str(upload.offset), "Tus-Resumable": "1.0.0"}
        if request.method == "HEAD":
            return Response(status_code=200, headers={**headers, "Upload-Length": str(upload.length)})
        offset = request.headers.get("upload-offset", "")
        if offset != str(upload.offset):
            return Response(status_code=409, headers=headers)
        chunk = await read_body(request, TUS_CHUNK_LIMIT)
        if upload.offset + len(chunk) > upload.length:
            raise BadRequest("the chunk goes past Upload-Length")
        with upload.path.open("ab") as handle:
            handle.write(chunk)
        upload.offset += len(chunk)
        return Response(status_code=204, headers={**headers, "Upload-Offset": str(upload.offset)})

    def _read_data(self, task_id: int, query: Mapping[str, str]) -> Response:
        frames = self.store.frames(task_id)
        kind, number = query.get("type", "chunk"), query.get("number", "0")
        if not number.isdigit():
            raise BadRequest("number must be a non-negative integer")
        if kind == "frame":
            frame = self.store.frame(task_id, int(number))
            return Response(frame.read(), media_type="image/" + frame.path.suffix.lstrip(".").replace("jpg", "jpeg"))
        if kind != "chunk":
            raise BadRequest(f"data type {kind!r} is not supported here (chunk, frame)")
        size = int(self.store.task(task_id)["chunk_size"])
        part = frames[int(number) * size : (int(number) + 1) * size]
        if not part:
            raise NotFound(f"chunk {number} does not exist")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for frame in part:
                archive.writestr(f"{frame.index:06d}{frame.path.suffix}", frame.read())
        return Response(buffer.getvalue(), media_type="application/zip")

    async def data_meta(self, request: Request) -> Response:
        task_id = path_int(request)
        task = self.visible_task(request, task_id)
        frames = self.store.frames(task_id)
        return JSONResponse(
            {
                "chunks_updated_date": task["updated"],
                "chunk_size": task["chunk_size"],
                "size": task["size"],
                "image_quality": task["image_quality"],
                "start_frame": task["start_frame"],
                "stop_frame": task["stop_frame"],
                "frame_filter": task["frame_filter"],
                "frames": [{"name": f.name, "width": f.width, "height": f.height, "related_files": 0} for f in frames],
                "deleted_frames": [],
                "included_frames": None,
            }
        )

    async def requests(self, request: Request) -> Response:
        rq_id = request.path_params["rq_id"]
        found = self._requests.get(rq_id)
        if found is None:
            raise NotFound(f"request {rq_id!r} not found")
        return JSONResponse(found)

    async def labels(self, request: Request) -> Response:
        query = request.query_params
        user = current_user(request)
        if query.get("job_id") is not None:
            job = self.store.job(query_int(query, "job_id"))
            task = self.store.task(job["task_id"])
            access.require(access.is_job_staff(user, task, job))
            tasks = [task]
        elif query.get("task_id") is not None:
            tasks = [self.visible_task(request, query_int(query, "task_id"))]
        else:
            tasks = [task for task in self.store.tasks() if access.is_task_staff(user, task)]
        results = []
        for task in tasks:
            for label in task["labels"]:
                results.append({**label, "task_id": task["id"]})
                results += [{**sub, "parent_id": label["id"], "task_id": task["id"]} for sub in label["sublabels"]]
        return listing(results)

    async def annotations(self, request: Request) -> Response:
        task_id = path_int(request)
        task = self.visible_task(request, task_id)
        if request.method == "GET":
            if not task["size"]:
                raise BadRequest("Exporting annotations from a task without data is not allowed")
            return JSONResponse(await run_in_threadpool(self.store.annotations, task_id))
        if request.method == "DELETE":
            await run_in_threadpool(self.store.clear_annotations, task_id)
            return Response(status_code=204)
        if {"upload-start", "upload-finish", "tus-resumable"} & set(request.headers.keys()):
            raise GatewayError("annotation file import is not supported here; send the annotations as JSON", 405)
        data, action = await annotation_request(request, self.max_body)
        result = await run_in_threadpool(self.store.change_annotations, task_id, data, action)
        return JSONResponse(result)

    def routes(self) -> list[Route]:
        return [
            Route("/api/server/about", self.about),
            *[Route(p, self.tasks, methods=["GET", "POST"]) for p in both("/api/tasks")],
            *[Route(p, self.task, methods=["GET", "PATCH", "DELETE"]) for p in both("/api/tasks/{id}")],
            *[Route(p, self.data_meta) for p in both("/api/tasks/{id}/data/meta")],
            *[Route(p, self.data, methods=["GET", "POST"]) for p in both("/api/tasks/{id}/data")],
            Route("/api/tasks/{id}/data/{file_id}", self.tus_chunk, methods=["PATCH", "HEAD"]),
            *[
                Route(p, self.annotations, methods=["GET", "PUT", "PATCH", "DELETE", "POST"])
                for p in both("/api/tasks/{id}/annotations")
            ],
            Route("/api/requests/{rq_id}", self.requests),
            *[Route(p, self.labels) for p in both("/api/labels")],
        ]


PUBLIC_PATHS = re.compile(r"^(/api/(server/about|auth/login|auth/logout|auth/register)/?|/metrics)$")


def query_int(query: Mapping[str, str], key: str) -> int:
    value = query[key]
    if not value.isdigit():
        raise ValidationFailed({key: ["A valid integer is required."]})
    return int(value)


async def annotation_request(request: Request, limit: int) -> tuple[dict[str, Any], str]:
    """A PUT/PATCH annotations body and its action, checked as CVAT's view and serializer check them."""
    action = "put" if request.method == "PUT" else request.query_params.get("action", "")
    if action not in ("put", *ACTIONS):
        raise ValidationFailed(["Please specify a correct 'action' for the request"])
    data = json_body(await read_body(request, limit))
    # PUT is validated as a "create" (ids must be absent), exactly as CVAT's view does
    parse(data, "create" if action == "put" else action)
    return data, action
