"""Tasks, their frames and annotations in SQLite (frames as files next to the database).

Only what cvat-sdk needs to exercise the lambda API: this is a test and local-use server, not a
CVAT replacement. Several processes (the gateway and queue workers) may open the same store.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from cvat_serverless.gateway.errors import BadRequest, NoSuch, ValidationFailed
from cvat_serverless.gateway.jobstore import JOBS_SCHEMA, JobsMixin, now
from cvat_serverless.gateway.numbers import id_or_404, to_int
from cvat_serverless.gateway.requeststore import REQUESTS_SCHEMA, RequestsMixin
from cvat_serverless.gateway.segments import segments, select_frames

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, labels TEXT NOT NULL,
    created TEXT NOT NULL, updated TEXT NOT NULL, size INTEGER NOT NULL DEFAULT 0,
    chunk_size INTEGER NOT NULL DEFAULT 36, image_quality INTEGER NOT NULL DEFAULT 70,
    segment_size INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS frames (
    task_id INTEGER NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, PRIMARY KEY (task_id, idx)
);
CREATE TABLE IF NOT EXISTS annotations (task_id INTEGER PRIMARY KEY, body TEXT NOT NULL);
"""
# Columns added after the first release; a store made by an older version gains them when opened.
TASK_COLUMNS = {
    "owner_id": "INTEGER NOT NULL DEFAULT 1",
    "assignee_id": "INTEGER",
    "overlap": "INTEGER",
    "start_frame": "INTEGER NOT NULL DEFAULT 0",
    "stop_frame": "INTEGER NOT NULL DEFAULT 0",
    "frame_filter": "TEXT NOT NULL DEFAULT ''",
}
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"})


def natural_key(name: str) -> list[Any]:
    """Sort key that orders ``img2`` before ``img10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


@dataclass(frozen=True)
class Frame:
    """One task frame: its index, file name, stored file and size."""

    index: int
    name: str
    path: Path
    width: int
    height: int

    def read(self) -> bytes:
        return self.path.read_bytes()


class TaskStore(JobsMixin, RequestsMixin):
    """SQLite rows plus a ``frames/`` folder under one data directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0  # transactions open on the thread holding the lock (the outer one plus savepoints)
        self._db = sqlite3.connect(self.directory / "tasks.sqlite3", check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA + JOBS_SCHEMA + REQUESTS_SCHEMA)
            self._db.commit()
        self._migrate()

    def _migrate(self) -> None:
        """Bring a store written by an older version up to date: new columns, one job per old task."""
        with self._tx() as db:
            present = {row["name"] for row in db.execute("PRAGMA table_info(tasks)")}
            for column, declaration in TASK_COLUMNS.items():
                if column not in present:
                    db.execute(f"ALTER TABLE tasks ADD COLUMN {column} {declaration}")  # fixed names
            orphans = db.execute(
                "SELECT id, size FROM tasks WHERE size > 0 AND id NOT IN (SELECT task_id FROM jobs)"
            ).fetchall()
            for row in orphans:
                self.create_jobs(db, row["id"], [(0, row["size"] - 1)], now())
                db.execute("UPDATE tasks SET segment_size = size, overlap = 0 WHERE id = ?", (row["id"],))
                old = db.execute("SELECT body FROM annotations WHERE task_id = ?", (row["id"],)).fetchone()
                if old is not None:
                    job_id = db.execute("SELECT id FROM jobs WHERE task_id = ?", (row["id"],)).fetchone()["id"]
                    db.execute("INSERT INTO job_annotations VALUES (?, ?)", (job_id, old["body"]))
            db.execute("DELETE FROM annotations")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction; inside another one (same thread) it is a savepoint of it, so several
        changes (annotations and a request's checkpoint) can be committed together."""
        with self._lock:
            depth = self._depth
            savepoint = f"nested_{depth}"
            self._db.execute(f"SAVEPOINT {savepoint}" if depth else "BEGIN IMMEDIATE")
            self._depth = depth + 1
            try:
                yield self._db
                if depth:
                    self._db.execute(f"RELEASE {savepoint}")
                else:
                    self._db.commit()
            except BaseException:
                if depth:
                    self._db.execute(f"ROLLBACK TO {savepoint}")
                    self._db.execute(f"RELEASE {savepoint}")
                else:
                    self._db.rollback()
                raise
            finally:
                self._depth = depth

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """Commit every store change made inside it at once (or none of them)."""
        return self._tx()

    def _next_ids(self, db: sqlite3.Connection, name: str, count: int) -> range:
        row = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        start = (row["value"] if row else 0) + 1
        db.execute("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)", (name, start + count - 1))
        return range(start, start + count)

    # --- tasks -----------------------------------------------------------------------------------

    def _number_labels(self, db: sqlite3.Connection, labels: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        numbered = []
        for raw in labels:
            if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str) or not raw["name"]:
                raise BadRequest(f"every label needs a non-empty name, got {raw!r}")
            label = {
                "id": self._next_ids(db, "label", 1)[0],
                "name": raw["name"],
                "type": raw.get("type") or "any",
                "color": raw.get("color") or "",
                "svg": raw.get("svg") or "",
                "has_parent": False,
                "attributes": [],
                "sublabels": [],
            }
            attributes = raw.get("attributes") or []
            if not isinstance(attributes, list) or not all(
                isinstance(a, Mapping) and isinstance(a.get("name"), str) and a["name"] for a in attributes
            ):
                raise BadRequest(f"the attributes of label {raw['name']!r} must be a list of objects with a name")
            for attr in attributes:
                values = attr.get("values") or []
                if not isinstance(values, list):
                    raise BadRequest(f"the values of attribute {attr['name']!r} must be a list")
                label["attributes"].append(
                    {
                        "id": self._next_ids(db, "attribute", 1)[0],
                        "name": str(attr["name"]),
                        "mutable": bool(attr.get("mutable", False)),
                        "input_type": str(attr.get("input_type", "text")),
                        "default_value": str(attr.get("default_value", "")),
                        "values": [str(v) for v in values],
                    }
                )
            sublabels = raw.get("sublabels") or []
            if not isinstance(sublabels, list):
                raise BadRequest(f"the sublabels of label {raw['name']!r} must be a list")
            subs = self._number_labels(db, sublabels)
            label["sublabels"] = [{**sub, "has_parent": True} for sub in subs]
            numbered.append(label)
        names = [label["name"] for label in numbered]
        if len(names) != len(set(names)):
            raise BadRequest("label names must be unique within a task")
        return numbered

    def create_task(
        self,
        name: str,
        labels: Sequence[Mapping[str, Any]],
        segment_size: int = 0,
        *,
        owner_id: int = 1,
        assignee_id: int | None = None,
    ) -> dict[str, Any]:
        """A new task without data; returns its row."""
        if not isinstance(name, str) or not 1 <= len(name) <= 256:
            raise BadRequest("a task needs a name of 1 to 256 characters")
        if not isinstance(labels, list):
            raise BadRequest("labels must be a list")
        stamp = now()
        with self._tx() as db:
            numbered = self._number_labels(db, labels)
            cursor = db.execute(
                "INSERT INTO tasks (name, labels, created, updated, segment_size, owner_id, assignee_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, json.dumps(numbered), stamp, stamp, int(segment_size or 0), owner_id, assignee_id),
            )
            task_id = int(cursor.lastrowid or 0)
        return self.task(task_id)

    def task(self, task_id: int) -> dict[str, Any]:
        """The task row (labels decoded); :class:`NotFound` if absent (or if ``task_id`` cannot be an id)."""
        task_id = id_or_404(task_id, "task")
        with self._lock:
            row = self._db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise NoSuch("Task", task_id)
        return {**dict(row), "labels": json.loads(row["labels"])}

    def tasks(self) -> list[dict[str, Any]]:
        with self._lock:
            ids = [row["id"] for row in self._db.execute("SELECT id FROM tasks ORDER BY id")]
        return [self.task(task_id) for task_id in ids]

    def update_task(self, task_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change a task's name, owner or assignee (``PATCH /api/tasks/{id}``)."""
        self.task(task_id)
        with self._tx() as db:
            for key in ("name", "owner_id", "assignee_id"):
                if key in changes:
                    db.execute(f"UPDATE tasks SET {key} = ?, updated = ? WHERE id = ?", (changes[key], now(), task_id))
        return self.task(task_id)

    def delete_task(self, task_id: int) -> None:
        self.task(task_id)
        with self._tx() as db:
            db.execute(
                "DELETE FROM job_annotations WHERE job_id IN (SELECT id FROM jobs WHERE task_id = ?)", (task_id,)
            )
            for table, column in (("tasks", "id"), ("frames", "task_id"), ("jobs", "task_id")):
                db.execute(f"DELETE FROM {table} WHERE {column} = ?", (task_id,))  # fixed table names
        shutil.rmtree(self.task_dir(task_id), ignore_errors=True)

    def task_dir(self, task_id: int) -> Path:
        return self.directory / "tasks" / str(task_id)

    def clear_upload(self, task_id: int) -> None:
        """Drop whatever client files wait in the task's upload folder."""
        shutil.rmtree(self.task_dir(task_id) / "upload", ignore_errors=True)

    def upload_size(self, task_id: int) -> int:
        """Bytes of client files waiting in the task's upload folder."""
        folder = self.task_dir(task_id) / "upload"
        return sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) if folder.is_dir() else 0

    def upload_dir(self, task_id: int) -> Path:
        """Where uploaded client files wait for Upload-Finish."""
        path = self.task_dir(task_id) / "upload"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # --- data ------------------------------------------------------------------------------------

    def attach_frames(
        self,
        task_id: int,
        files: Sequence[Path],
        *,
        order: str = "lexicographical",
        image_quality: int = 70,
        chunk_size: int | None = None,
        explicit_order: Sequence[str] | None = None,
        start_frame: int = 0,
        stop_frame: int = 0,
        frame_filter: str = "",
    ) -> dict[str, Any]:
        """Make ``files`` the task's frames (copied into the task folder), sorted as CVAT sorts them.

        Only ``sorted_files[start_frame : stop_frame + 1 : step]`` become frames (numbered from 0),
        and the task is split into jobs of ``segment_size`` frames, as CVAT 2.73 does.
        All or nothing: when any step fails, the copied frames and the uploaded client files are
        removed and the task stays without data, so a retry with fixed input starts clean.
        """
        try:
            return self._attach_frames(
                task_id, files, order=order, image_quality=image_quality, chunk_size=chunk_size,
                explicit_order=explicit_order, start_frame=start_frame, stop_frame=stop_frame,
                frame_filter=frame_filter,
            )  # fmt: skip
        except BaseException:
            if not self.task(task_id)["size"]:
                shutil.rmtree(self.task_dir(task_id) / "frames", ignore_errors=True)
                self.clear_upload(task_id)
            raise

    def _attach_frames(
        self,
        task_id: int,
        files: Sequence[Path],
        *,
        order: str,
        image_quality: int,
        chunk_size: int | None,
        explicit_order: Sequence[str] | None,
        start_frame: int,
        stop_frame: int,
        frame_filter: str,
    ) -> dict[str, Any]:
        task = self.task(task_id)
        if task["size"]:
            raise BadRequest(f"task {task_id} already has data")
        images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            raise BadRequest("no image files in the task data (supported: " + ", ".join(sorted(IMAGE_SUFFIXES)) + ")")
        if explicit_order:
            rank = {name: i for i, name in enumerate(explicit_order)}
            images.sort(key=lambda f: rank.get(f.name, len(rank)))
        elif order == "natural":
            images.sort(key=lambda f: natural_key(f.name))
        elif order != "predefined":
            images.sort(key=lambda f: f.name)
        chosen = select_frames(len(images), start_frame, stop_frame, frame_filter)
        images = [images[i] for i in chosen.indices]
        frames_dir = self.task_dir(task_id) / "frames"
        frames_dir.mkdir(parents=True, exist_ok=True)
        rows = []
        for index, source in enumerate(images):
            target = frames_dir / f"{index:06d}{source.suffix.lower()}"
            shutil.copyfile(source, target)
            try:
                with Image.open(target) as image:
                    width, height = image.size
            except (OSError, Image.DecompressionBombError) as error:
                raise BadRequest(f"{source.name} is not a readable image: {error}") from None
            rows.append((task_id, index, source.name, str(target), width, height))
        with self._tx() as db:
            db.executemany("INSERT INTO frames VALUES (?, ?, ?, ?, ?, ?)", rows)
            segment_size, ranges = segments(len(rows), int(task["segment_size"]))
            db.execute(
                "UPDATE tasks SET size = ?, updated = ?, image_quality = ?, chunk_size = ?, segment_size = ?,"
                " overlap = 0, start_frame = ?, stop_frame = ?, frame_filter = ? WHERE id = ?",
                (
                    len(rows),
                    now(),
                    int(image_quality),
                    int(chunk_size or task["chunk_size"]),
                    segment_size,
                    chosen.start_frame,
                    chosen.stop_frame,
                    chosen.frame_filter,
                    task_id,
                ),
            )
            self.create_jobs(db, task_id, ranges, now())
        shutil.rmtree(self.task_dir(task_id) / "upload", ignore_errors=True)
        return self.task(task_id)

    def frames(self, task_id: int) -> list[Frame]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM frames WHERE task_id = ? ORDER BY idx", (task_id,)).fetchall()
        return [Frame(r["idx"], r["name"], Path(r["path"]), r["width"], r["height"]) for r in rows]

    def frame(self, task_id: int, index: Any) -> Frame:
        """Frame ``index`` of a task (integral floats accepted, as cvat-sdk sends them); 400 when out of range."""
        number = to_int(index, strings=False)
        if number is None:
            raise BadRequest(f"frame must be an integer, got {index!r}")
        task_id = id_or_404(task_id, "task")
        with self._lock:
            row = self._db.execute("SELECT * FROM frames WHERE task_id = ? AND idx = ?", (task_id, number)).fetchone()
        if row is None:
            size = self.task(task_id)["size"]
            # CVAT's TaskFrameProvider.validate_frame_number, word for word (DRF's ValidationError: a list)
            raise ValidationFailed([f"Invalid frame '{number}'. The frame number should be in the [0, {size}] range"])
        return Frame(row["idx"], row["name"], Path(row["path"]), row["width"], row["height"])
