"""One worker process: load the function once, then answer events from the parent over a pipe."""

from __future__ import annotations

import os
import traceback
from collections.abc import Mapping
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle
from typing import Any

from cvat_serverless.processor.shared_body import SharedBody


def worker_main(conn: Connection, function_dir: str, yaml_name: str, env: Mapping[str, str], worker_id: int) -> None:
    """Entry point of a worker process (multiprocessing ``spawn``).

    Protocol: the parent first passes the descriptor of the worker's :class:`SharedBody`; the
    worker sends ``("ready", pid)`` after ``init_context`` or ``("error", text)`` and exits; then
    for each ``("event", meta, size)`` (the body is the first ``size`` bytes of the shared area)
    it answers ``("response", meta, size)`` with its body in the same area. Bodies are never
    base64'd or pickled; only the small metadata crosses the pipe.
    """
    from cvat_serverless.runtime import LoadedFunction

    body = SharedBody(recv_handle(conn))
    try:
        function = LoadedFunction.load(function_dir, yaml_name=yaml_name, env=env, worker_id=worker_id)
    except BaseException as error:
        conn.send(("error", f"init_context failed: {type(error).__name__}: {error}\n{traceback.format_exc()}"))
        conn.close()
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            kind, event, size = conn.recv()
        except (EOFError, OSError, ValueError):
            return
        if kind != "event":
            return
        response = _handle(function, event, body.take(size))
        meta = {"status_code": response.status_code, "content_type": response.content_type, "headers": response.headers}
        conn.send(("response", meta, body.put(response.body)))


def _handle(function: Any, event: Mapping[str, Any], body: bytes) -> Any:
    return function.invoke(
        body,
        content_type=event["content_type"],
        method=event["method"],
        path=event["path"],
        headers=event["headers"],
        fields=event["fields"],
    )
