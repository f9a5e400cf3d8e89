"""One worker process: load the function once, then answer events from the parent over a pipe."""

from __future__ import annotations

import base64
import os
import traceback
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from cvat_serverless.runtime.encoding import response_to_wire


def worker_main(conn: Connection, function_dir: str, yaml_name: str, env: Mapping[str, str], worker_id: int) -> None:
    """Entry point of a worker process (multiprocessing ``spawn``).

    Protocol: the worker sends ``("ready", pid)`` after ``init_context`` or ``("error", text)``
    and exits; then for each ``("event", dict)`` it sends ``("response", dict)``.
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
        response = _handle(function, payload)
        conn.send(("response", response_to_wire(response)))


def _handle(function: Any, event: Mapping[str, Any]) -> Any:
    return function.invoke(
        base64.b64decode(event["body"]),
        content_type=event["content_type"],
        method=event["method"],
        path=event["path"],
        headers=event["headers"],
        fields=event["fields"],
    )
