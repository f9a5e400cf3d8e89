"""One worker process: load the function once, then answer events from the parent over a pipe."""

from __future__ import annotations

import os
import traceback
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any


def worker_main(conn: Connection, function_dir: str, yaml_name: str, env: Mapping[str, str], worker_id: int) -> None:
    """Entry point of a worker process (multiprocessing ``spawn``).

    Protocol: the worker sends ``("ready", pid)`` after ``init_context`` or ``("error", text)``
    and exits; then for each ``("event", meta)`` followed by the raw body bytes it answers
    ``("response", meta)`` followed by the raw response body (bytes are never base64'd or pickled).
    """
    from cvat_serverless.runtime import LoadedFunction

    try:
        function = LoadedFunction.load(function_dir, yaml_name=yaml_name, env=env, worker_id=worker_id)
    except BaseException as error:
        conn.send(("error", f"init_context failed: {type(error).__name__}: {error}\n{traceback.format_exc()}"))
        conn.close()
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            return
        if kind != "event":
            return
        response = _handle(function, payload, conn.recv_bytes())
        conn.send(
            (
                "response",
                {
                    "status_code": response.status_code,
                    "content_type": response.content_type,
                    "headers": response.headers,
                },
            )
        )
        conn.send_bytes(response.body)


def _handle(function: Any, event: Mapping[str, Any], body: bytes) -> Any:
    return function.invoke(
        body,
        content_type=event["content_type"],
        method=event["method"],
        path=event["path"],
        headers=event["headers"],
        fields=event["fields"],
    )
