"""Jobs and their annotations in the task store's SQLite database, split and merged as CVAT 2.73 does.

- Annotations live per job (``job_annotations``). A task-level write is sliced by frame into the
  task's *annotation* jobs; a task-level read concatenates them in job id order. Ground-truth jobs
  are never part of task-level reads or writes (CVAT's ``TaskAnnotation`` outside GT-pool mode).
- A job-level write stores what it is given, as CVAT's ``JobAnnotation`` does (it checks labels and
  attributes, not frames); a job-level read returns only that job's objects.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from cvat_serverless.gateway import annotations as anno
from cvat_serverless.gateway.errors import BadRequest, NoSuch, ValidationFailed
from cvat_serverless.gateway.numbers import id_or_404

JOBS_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, task_id INTEGER NOT NULL, type TEXT NOT NULL,
    start_frame INTEGER NOT NULL, stop_frame INTEGER NOT NULL, frames TEXT,
    assignee_id INTEGER, stage TEXT NOT NULL DEFAULT 'annotation', state TEXT NOT NULL DEFAULT 'new',
    created TEXT NOT NULL, updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS job_annotations (job_id INTEGER PRIMARY KEY, body TEXT NOT NULL);
"""


def now() -> str:
    """UTC now, ISO 8601 with ``Z`` (what cvat-sdk parses)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def job_frames(job: Mapping[str, Any]) -> list[int]:
    """The task frames of a job: its range, or a ground-truth job's chosen frames."""
    if job["frames"] is not None:
        return sorted(job["frames"])
    return list(range(job["start_frame"], job["stop_frame"] + 1))


class JobsMixin:
    """Job rows and per-job annotations; mixed into :class:`~cvat_serverless.gateway.store.TaskStore`."""

    _db: sqlite3.Connection
    _lock: threading.RLock

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _next_ids(self, db: sqlite3.Connection, name: str, count: int) -> range:
        raise NotImplementedError

    def task(self, task_id: int) -> dict[str, Any]:
        raise NotImplementedError

    def _job_row(self, row: sqlite3.Row) -> dict[str, Any]:
        job = dict(row)
        job["frames"] = json.loads(job["frames"]) if job["frames"] else None
        return job

    def job(self, job_id: int) -> dict[str, Any]:
        """The job row; :class:`NotFound` if absent (or if ``job_id`` cannot be an id)."""
        job_id = id_or_404(job_id, "job")
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NoSuch("Job", job_id)
        return self._job_row(row)

    def jobs(self, task_id: int | None = None) -> list[dict[str, Any]]:
        query, args = "SELECT * FROM jobs ORDER BY id", ()
        if task_id is not None:
            query, args = "SELECT * FROM jobs WHERE task_id = ? ORDER BY id", (task_id,)
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [self._job_row(row) for row in rows]

    def create_jobs(self, db: sqlite3.Connection, task_id: int, ranges: Sequence[tuple[int, int]], stamp: str) -> None:
        db.executemany(
            "INSERT INTO jobs (task_id, type, start_frame, stop_frame, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
            [(task_id, "annotation", start, stop, stamp, stamp) for start, stop in ranges],
        )

    def create_ground_truth_job(
        self, task_id: int, frames: Sequence[int], assignee_id: int | None, stamp: str
    ) -> dict[str, Any]:
        size = int(self.task(task_id)["size"])
        with self._tx() as db:
            if db.execute("SELECT 1 FROM jobs WHERE task_id = ? AND type = 'ground_truth'", (task_id,)).fetchone():
                raise ValidationFailed(['Task with validation mode "gt" cannot have more than 1 GT job'])
            cursor = db.execute(
                "INSERT INTO jobs (task_id, type, start_frame, stop_frame, frames, assignee_id, created, updated)"
                " VALUES (?, 'ground_truth', 0, ?, ?, ?, ?, ?)",
                (task_id, size - 1, json.dumps(sorted(frames)), assignee_id, stamp, stamp),
            )
            job_id = int(cursor.lastrowid or 0)
        return self.job(job_id)

    def update_job(self, job_id: int, changes: Mapping[str, Any], stamp: str) -> dict[str, Any]:
        with self._tx() as db:
            for key in ("assignee_id", "stage", "state"):
                if key in changes:
                    db.execute(f"UPDATE jobs SET {key} = ?, updated = ? WHERE id = ?", (changes[key], stamp, job_id))
        return self.job(job_id)

    def delete_job(self, job_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            db.execute("DELETE FROM job_annotations WHERE job_id = ?", (job_id,))

    # --- annotations -----------------------------------------------------------------------------

    def _job_data(self, job_id: int) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute("SELECT body FROM job_annotations WHERE job_id = ?", (job_id,)).fetchone()
        return json.loads(row["body"]) if row else anno.empty()

    def _save_job_data(self, db: sqlite3.Connection, job: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        body = json.dumps({kind: data.get(kind, []) for kind in ("version", *anno.KINDS)})
        db.execute("INSERT OR REPLACE INTO job_annotations (job_id, body) VALUES (?, ?)", (job["id"], body))
        db.execute("UPDATE jobs SET updated = ? WHERE id = ?", (now(), job["id"]))

    def _with_ids(self, db: sqlite3.Connection, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        result = []
        for item in items:
            copy = {**item, "id": self._next_ids(db, "annotation", 1)[0]}
            for key in ("elements", "shapes"):
                if isinstance(copy.get(key), list):
                    copy[key] = self._with_ids(db, copy[key])
            result.append(copy)
        return result

    def _render(self, task_id: int, data: Mapping[str, Any], version: int) -> dict[str, Any]:
        defaults: dict[int, list[dict[str, Any]]] = {}
        for label in self.task(task_id)["labels"]:
            for item in (label, *label["sublabels"]):
                defaults[item["id"]] = [{"spec_id": a["id"], "value": a["default_value"]} for a in item["attributes"]]
        out: dict[str, Any] = {"version": version}
        for kind in anno.KINDS:
            items = [anno.render(item, kind, defaults) for item in data.get(kind, [])]
            out[kind] = sorted(items, key=lambda i: i["frame"]) if kind in ("tags", "shapes") else items
        return out

    def job_annotations(self, job_id: int) -> dict[str, Any]:
        """``GET /api/jobs/{id}/annotations``."""
        job = self.job(job_id)
        data = self._job_data(job_id)
        return self._render(job["task_id"], data, data.get("version", 0))

    def change_job_annotations(self, job_id: int, data: Mapping[str, Any], action: str) -> dict[str, Any]:
        """Job-level PUT (``put``) or PATCH create/update/delete; answers what CVAT answers for each."""
        job = self.job(job_id)
        parsed = anno.parse(data, None if action == "put" else action)
        anno.check_labels(parsed, self.task(job["task_id"])["labels"])
        with self._tx() as db:
            result = _apply(self, db, job, parsed, action)
        return self._render(job["task_id"], result, result["version"])

    def annotation_jobs(self, task_id: int) -> list[dict[str, Any]]:
        return [job for job in self.jobs(task_id) if job["type"] == "annotation"]

    def annotations(self, task_id: int) -> dict[str, Any]:
        """``GET /api/tasks/{id}/annotations``: the annotation jobs' objects (ground truth left out)."""
        self.task(task_id)
        merged, version = anno.empty(), 0
        for job in self.annotation_jobs(task_id):
            data = self._job_data(job["id"])
            version = max(version, int(data.get("version", 0)))
            for kind in anno.KINDS:
                merged[kind] += data.get(kind, [])
        return self._render(task_id, merged, version)

    def change_annotations(self, task_id: int, data: Mapping[str, Any], action: str) -> dict[str, Any]:
        """Task-level PUT (``put``) or PATCH: the body is sliced into the annotation jobs by frame."""
        parsed = anno.parse(data, None if action == "put" else action)
        anno.check_labels(parsed, self.task(task_id)["labels"])
        jobs = self.annotation_jobs(task_id)
        merged, version = anno.empty(), 0
        with self._tx() as db:
            placed: set[tuple[str, int]] = set()
            for job in jobs:
                part = anno.empty()
                for kind in anno.KINDS:
                    for index, item in enumerate(parsed[kind]):
                        if anno.in_range(item, kind, job["start_frame"], job["stop_frame"]):
                            if kind == "tracks" and (kind, index) in placed:
                                continue
                            placed.add((kind, index))
                            part[kind].append(item)
                result = _apply(self, db, job, part, action)
                version = max(version, result["version"])
                for kind in anno.KINDS:
                    merged[kind] += result[kind]
        return self._render(task_id, merged, version)

    def clear_annotations(self, task_id: int) -> None:
        """``DELETE /api/tasks/{id}/annotations`` (ground-truth jobs keep theirs)."""
        self.task(task_id)
        with self._tx() as db:
            for job in self.annotation_jobs(task_id):
                version = int(self._job_data(job["id"]).get("version", 0))
                self._save_job_data(db, job, {**anno.empty(), "version": version + 1})

    def clear_job_annotations(self, job_id: int) -> None:
        job = self.job(job_id)
        with self._tx() as db:
            version = int(self._job_data(job_id).get("version", 0))
            self._save_job_data(db, job, {**anno.empty(), "version": version + 1})


def _apply(
    store: JobsMixin, db: sqlite3.Connection, job: Mapping[str, Any], parsed: Mapping[str, Any], action: str
) -> dict[str, Any]:
    """Change one job's stored objects; returns what CVAT's ``JobAnnotation`` answers for the action."""
    current = store._job_data(job["id"])
    version = int(current.get("version", 0)) + 1
    answer = anno.empty()
    for kind in anno.KINDS:
        given = list(parsed.get(kind, []))
        if action in ("put", "create"):
            answer[kind] = store._with_ids(db, [{k: v for k, v in i.items() if k != "id"} for i in given])
            current[kind] = (current.get(kind, []) if action == "create" else []) + answer[kind]
        elif action == "update":
            # CVAT deletes the given ids and creates the given objects again under their ids
            ids = {item["id"] for item in given if item.get("id") is not None}
            fresh = [i if i.get("id") is not None else {**i, "id": None} for i in given]
            kept = [item for item in current.get(kind, []) if item["id"] not in ids]
            answer[kind] = [i if i["id"] is not None else store._with_ids(db, [i])[0] for i in fresh]
            current[kind] = kept + answer[kind]
        elif action == "delete":
            ids = {item["id"] for item in given}
            answer[kind] = given
            current[kind] = [item for item in current.get(kind, []) if item["id"] not in ids]
        else:
            raise BadRequest("Please specify a correct 'action' for the request")
    current["version"] = version
    store._save_job_data(db, job, current)
    return {**answer, "version": version}
