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
from pathlib import Path, PurePosixPath
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
from cvat_serverless.gateway.numbers import field_int, header_int, query_int, to_int
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
        errors, numbers = {}, {}
        for key in ("segment_size", "overlap"):
            if data.get(key) is not None:
                try:
                    numbers[key] = field_int(data[key], key)
                except ValidationFailed as error:
                    errors.update(error.body)
        if errors:
            raise ValidationFailed(errors)
        if numbers.get("overlap"):
            raise BadRequest("overlap is not supported by this server (CVAT's image tasks default to 0)")
        owner = data.get("owner_id") if data.get("owner_id") is not None else owner_id
        assignee = data.get("assignee_id")
        self._check_users(owner_id=owner, assignee_id=assignee)
        return self.store.create_task(
            data.get("name"), data.get("labels") or [], numbers.get("segment_size") or 0,
            owner_id=int(owner), assignee_id=assignee,
        )  # fmt: skip

    def _check_users(self, **ids: Any) -> None:
        for key, value in ids.items():
            number = to_int(value, strings=False, floats=False, minimum=1)
            if value is not None and (number is None or self.accounts.users.get(number) is None):
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
            if "name" in changes and not (isinstance(changes["name"], str) and 1 <= len(changes["name"]) <= 256):
                raise ValidationFailed({"name": ["A task name must be a string of 1 to 256 characters."]})
            if {"owner_id", "assignee_id"} & changes.keys():
                access.require(access.can_delete_task(user, task))  # update:owner / update:assignee
            if "owner_id" in changes and changes["owner_id"] is None:  # every task here has an owner
                raise ValidationFailed({"owner_id": ["This field may not be null."]})
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
            # a new upload begins: whatever an earlier, abandoned one left behind goes
            await run_in_threadpool(self.store.clear_upload, task_id)
            return Response(status_code=202)
        if "upload-multiple" in headers:
            await self._save_multipart(request, task_id)
            return Response(status_code=200)
        if "tus-resumable" in headers and "upload-length" in headers:
            return self._tus_create(request, task_id)
        params = json_body(await read_body(request, 1024 * 1024))
        validate_data_params(params)
        image_quality = field_int(params.get("image_quality", 70), "image_quality", maximum=100)
        files: list[Path] = []
        names: list[str] = []
        order = params.get("upload_file_order")
        if order is not None and not (isinstance(order, list) and all(isinstance(n, str) for n in order)):
            raise ValidationFailed({"upload_file_order": ["Expected a list of file names."]})
        if "upload-finish" in headers:
            files = sorted(self.store.upload_dir(task_id).iterdir())
            if sum(f.stat().st_size for f in files) > UPLOAD_LIMIT:
                await run_in_threadpool(self.store.clear_upload, task_id)
                raise GatewayError(f"the uploaded files are over the {UPLOAD_LIMIT}-byte limit", 413)
        elif params.get("server_files"):
            names = server_file_names(params["server_files"])
        elif params.get("remote_files"):
            raise BadRequest("remote_files are not supported: this server downloads nothing; use server_files")
        else:
            raise BadRequest("expected Upload-Start/Multiple/Finish headers or a JSON body with server_files")
        try:
            if "upload-finish" not in headers:
                files = await run_in_threadpool(self._server_files, names)
            await run_in_threadpool(
                self.store.attach_frames,
                task_id,
                files,
                order=str(params.get("sorting_method", "lexicographical")),
                image_quality=image_quality,
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
        """Upload-Multiple: the body is counted while it streams (a 413 past ``max_body``, chunked or not)
        and nothing is written to the task's upload folder unless the whole form arrived and every name is usable."""
        room = self.max_body - await run_in_threadpool(self.store.upload_size, task_id)
        if room <= 0:
            raise GatewayError(f"the task's uploads are over the {UPLOAD_LIMIT}-byte limit", 413)
        counted = Request(request.scope, limited_receive(request, room))
        target = self.store.upload_dir(task_id)
        async with counted.form(max_files=10000, max_fields=100) as form:
            files = []
            for key, value in form.multi_items():
                if key.startswith("client_files") and hasattr(value, "read"):
                    files.append((safe_filename(str(value.filename or "")), value))
            for name, value in files:
                (target / name).write_bytes(await value.read())

    def _server_files(self, names: list[str]) -> list[Path]:
        """The files ``names`` stand for (folders searched recursively), every one by its real path inside
        the share. Like CVAT's ``join_untrusted_path``, a name or a symbolic link that leads outside the
        share fails the task's data request (CVAT fails its creation job the same way)."""
        if self.share_dir is None:
            raise BadRequest("this server has no share folder (start it with --share-dir)")
        root = self.share_dir.resolve()
        files: list[Path] = []
        for name in names:
            path = root / name
            found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for file in found:
                real = file.resolve()
                if not real.is_relative_to(root):
                    raise BadRequest(f"'{file.relative_to(root)}' is not in the subpath of the share folder")
                if not real.is_file():
                    raise BadRequest(f"'{file.relative_to(root)}' does not exist in the share folder")
                files.append(file)
        return files

    def _tus_create(self, request: Request, task_id: int) -> Response:
        length = header_int(request.headers.get("upload-length", ""), "Upload-Length")
        if length + self.store.upload_size(task_id) > UPLOAD_LIMIT:
            raise GatewayError(f"an upload of {length} more bytes is over the task's {UPLOAD_LIMIT}-byte limit", 413)
        pairs = (item.strip().partition(" ") for item in request.headers.get("upload-metadata", "").split(","))
        metadata = {key: value.strip() for key, _, value in pairs if key}
        try:
            filename = base64.b64decode(metadata.get("filename", ""), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            filename = ""
        if not filename:
            raise BadRequest("Upload-Metadata must carry a base64 filename")
        filename = safe_filename(filename)
        file_id = uuid.uuid4().hex
        path = self.store.upload_dir(task_id) / filename
        if path.exists():  # CVAT's init_tus_upload: an uploaded file is never replaced
            raise GatewayError("File with same name already exists", 409)
        path.write_bytes(b"")
        with self._lock:
            self._tus[file_id] = _TusUpload(task_id, filename, length, path)
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
        if upload.offset + len(chunk) > upload.length:  # CVAT's TUS mixin: 413, nothing written
            raise GatewayError("the chunk goes past Upload-Length", 413)
        with upload.path.open("ab") as handle:
            handle.write(chunk)
        upload.offset += len(chunk)
        return Response(status_code=204, headers={**headers, "Upload-Offset": str(upload.offset)})

    def _read_data(self, task_id: int, query: Mapping[str, str]) -> Response:
        frames = self.store.frames(task_id)
        kind = query.get("type", "chunk")
        number = field_int(query.get("number", "0"), "number")
        if kind == "frame":
            frame = self.store.frame(task_id, number)
            return Response(frame.read(), media_type="image/" + frame.path.suffix.lstrip(".").replace("jpg", "jpeg"))
        if kind != "chunk":
            raise BadRequest(f"data type {kind!r} is not supported here (chunk, frame)")
        size = int(self.store.task(task_id)["chunk_size"])
        part = frames[number * size : (number + 1) * size]
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


def path_problem(name: str) -> str | None:
    """CVAT's ``problem_with_untrusted_path`` (trailing slash allowed): why ``name`` is no canonical relative path."""
    pure = PurePosixPath(name)
    if not pure.parts:
        return "path is empty"
    if pure.root:
        return "path is not relative"
    if ".." in pure.parts:
        return "path contains a '..' segment"
    if pure.as_posix() != name.removesuffix("/") or "\0" in name:
        return "path is not in canonical form"
    return None


def server_file_names(raw: Any) -> list[str]:
    """``server_files`` checked as CVAT's ``ServerFileSerializer`` checks it (400 with one entry per name)."""
    if not isinstance(raw, list):
        raise ValidationFailed({"server_files": [f'Expected a list of items but got type "{type(raw).__name__}".']})
    problems = [path_problem(n) if isinstance(n, str) else "Not a valid string." for n in raw]
    if any(problems):
        raise ValidationFailed({"server_files": [{"file": [p]} if p else {} for p in problems]})
    return list(raw)


def safe_filename(raw: str) -> str:
    """An uploaded file's base name; a 400 for one that is empty, hidden, ``..`` or holds a NUL/control byte."""
    name = Path(raw.replace("\\", "/")).name
    if not name or name.startswith(".") or any(ord(c) < 32 for c in name) or len(name.encode()) > 255:
        raise BadRequest(f"an uploaded file has no usable name: {raw!r}")
    return name


def limited_receive(request: Request, limit: int) -> Callable[[], Awaitable[Any]]:
    """The request's ASGI ``receive`` that raises a 413 once more than ``limit`` body bytes arrived."""
    declared = to_int(request.headers.get("content-length", ""), floats=False, minimum=0)
    if declared is not None and declared > limit:
        raise GatewayError(f"upload of {declared} bytes is over the {limit}-byte limit", 413)
    seen = 0

    async def receive() -> Any:
        nonlocal seen
        message = await request.receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise GatewayError(f"the upload is over the {limit}-byte limit", 413)
        return message

    return receive


PUBLIC_PATHS = re.compile(r"^(/api/(server/about|auth/login|auth/logout|auth/register)/?|/metrics)$")


async def annotation_request(request: Request, limit: int) -> tuple[dict[str, Any], str]:
    """A PUT/PATCH annotations body and its action, checked as CVAT's view and serializer check them."""
    action = "put" if request.method == "PUT" else request.query_params.get("action", "")
    if action not in ("put", *ACTIONS):
        raise ValidationFailed(["Please specify a correct 'action' for the request"])
    data = json_body(await read_body(request, limit))
    # PUT is validated as a "create" (ids must be absent), exactly as CVAT's view does
    parse(data, "create" if action == "put" else action)
    return data, action
