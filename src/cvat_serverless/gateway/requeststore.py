"""Whole-task requests and their checkpoints in the task store's SQLite database.

- A *checkpoint* says how far a request got: how many frames of its target are saved
  (``done``) and whether everything it writes is written (``finished``). A job writes it in the
  same transaction as the annotations it saves, so after the process running the request dies,
  the request goes on from exactly what was saved: no saved frame is run (or stored) twice, and
  a cleanup is never done again. Both queues use it (RQ jobs key it by their RQ id).
- *Requests* are the in-process queue's ``FunctionCall`` records, kept so that a gateway started
  again on the same data folder answers for them and resumes those that were queued or running.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cvat_serverless.gateway.errors import Conflict
from cvat_serverless.gateway.jobstore import now

REQUESTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS request_checkpoints (
    request_id TEXT PRIMARY KEY, done INTEGER NOT NULL, finished INTEGER NOT NULL, updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lambda_requests (
    id TEXT PRIMARY KEY, task_id INTEGER NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0, enqueued TEXT NOT NULL, started TEXT, ended TEXT, exc_info TEXT,
    resumes INTEGER NOT NULL DEFAULT 0
);
"""
UNFINISHED = ("queued", "started")
CHECKPOINT_DAYS = 7
"""Checkpoints older than this are dropped (a request lives at most 24 h, CVAT's RQ timeout)."""
REQUEST_FIELDS = frozenset({"status", "progress", "started", "ended", "exc_info", "resumes"})
FINISHED_TTL = timedelta(minutes=30)
FAILED_TTL = timedelta(hours=3)
"""How long ended requests are kept: CVAT's ``result_ttl`` and ``failure_ttl`` for lambda RQ jobs."""
EXPIRED = "(status = 'finished' AND ended < ?) OR (status = 'failed' AND ended < ?)"


def _stamp_before(age: timedelta) -> str:
    return (datetime.now(UTC) - age).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _expiry() -> tuple[str, str]:
    return _stamp_before(FINISHED_TTL), _stamp_before(FAILED_TTL)


@dataclass(frozen=True)
class Checkpoint:
    """What a request has saved: ``done`` frames of its target, and whether all its writes are done."""

    done: int
    finished: bool


class RequestsMixin:
    """Request rows and checkpoints; mixed into :class:`~cvat_serverless.gateway.store.TaskStore`."""

    _db: sqlite3.Connection
    _lock: threading.RLock

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    # --- checkpoints -----------------------------------------------------------------------------

    def checkpoint(self, request_id: str) -> Checkpoint | None:
        """The request's checkpoint; None when it has saved nothing (not even its cleanup)."""
        with self._lock:
            row = self._db.execute(
                "SELECT done, finished FROM request_checkpoints WHERE request_id = ?", (request_id,)
            ).fetchone()
        return None if row is None else Checkpoint(int(row["done"]), bool(row["finished"]))

    def set_checkpoint(self, request_id: str, done: int, finished: bool = False) -> None:
        """Record how far the request got; call it inside the transaction that saves the work."""
        stamp, cutoff = now(), _stamp_before(timedelta(days=CHECKPOINT_DAYS))
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO request_checkpoints (request_id, done, finished, updated) VALUES (?, ?, ?, ?)",
                (request_id, int(done), int(finished), stamp),
            )
            db.execute("DELETE FROM request_checkpoints WHERE updated < ?", (cutoff,))

    # --- the in-process queue's requests --------------------------------------------------------

    def _request_row(self, row: sqlite3.Row) -> dict[str, Any]:
        return {**dict(row), "params": json.loads(row["params"])}

    def add_request(self, rq_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """A new queued request; 409 while another request on the task is queued or running.

        The task's earlier, ended requests are deleted, as CVAT deletes the previous RQ job (and so
        are requests past CVAT's TTLs)."""
        task_id = int(params["task"])
        with self._tx() as db:
            db.execute(f"DELETE FROM lambda_requests WHERE {EXPIRED}", _expiry())
            running = db.execute(
                "SELECT 1 FROM lambda_requests WHERE task_id = ? AND status IN (?, ?)", (task_id, *UNFINISHED)
            ).fetchone()
            if running:
                raise Conflict(f"Only one running request is allowed for the same task #{task_id}")
            db.execute("DELETE FROM lambda_requests WHERE task_id = ?", (task_id,))
            db.execute(
                "INSERT INTO lambda_requests (id, task_id, params, status, enqueued) VALUES (?, ?, ?, 'queued', ?)",
                (rq_id, task_id, json.dumps(dict(params)), now()),
            )
        request = self.request(rq_id)
        assert request is not None
        return request

    def request(self, rq_id: str) -> dict[str, Any] | None:
        """The request; None when there is none (or it ended longer ago than CVAT keeps jobs)."""
        with self._lock:
            row = self._db.execute(
                f"SELECT * FROM lambda_requests WHERE id = ? AND NOT ({EXPIRED})", (rq_id, *_expiry())
            ).fetchone()
        return None if row is None else self._request_row(row)

    def requests(self, statuses: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Requests in the order they were enqueued (only those in ``statuses`` when given)."""
        where, args = f"NOT ({EXPIRED})", _expiry()
        if statuses:
            where += f" AND status IN ({', '.join('?' for _ in statuses)})"  # placeholders only
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM lambda_requests WHERE {where} ORDER BY enqueued, id", (*args, *statuses)
            ).fetchall()
        return [self._request_row(row) for row in rows]

    def update_request(self, rq_id: str, **changes: Any) -> bool:
        """Change fields of a request; False when it is gone (it was cancelled)."""
        unknown = set(changes) - REQUEST_FIELDS
        if unknown:
            raise ValueError(f"unknown request fields {sorted(unknown)!r}")
        assignments = ", ".join(f"{key} = ?" for key in changes)  # names checked above
        with self._tx() as db:
            cursor = db.execute(f"UPDATE lambda_requests SET {assignments} WHERE id = ?", (*changes.values(), rq_id))
        return cursor.rowcount > 0

    def delete_request(self, rq_id: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM lambda_requests WHERE id = ?", (rq_id,)).rowcount > 0
