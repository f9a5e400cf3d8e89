"""Nuclio's event decoding and response encoding, reproduced (reference §1.3–§1.4, §1.9)."""

from __future__ import annotations

import json
import logging
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import nuclio_sdk

LOG = logging.getLogger("cvat_serverless.runtime")


@dataclass(frozen=True)
class RuntimeResponse:
    """What the processor sends back for one event."""

    status_code: int
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


def build_event(
    body: bytes,
    *,
    content_type: str,
    method: str = "POST",
    path: str = "/",
    headers: Mapping[str, str] | None = None,
    fields: Mapping[str, str] | None = None,
) -> nuclio_sdk.Event:
    """An event as the Python wrapper builds it: JSON is decoded only for exactly ``application/json``."""
    decoded: Any = body
    if content_type == "application/json":
        try:
            decoded = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):  # bad UTF-8 or JSON, an over-long integer, deep nesting
            decoded = body  # the function's library answers why (a 400), the worker lives on
    return nuclio_sdk.Event(
        body=decoded,
        content_type=content_type,
        trigger=nuclio_sdk.TriggerInfo("http", "myHttpTrigger"),
        fields=dict(fields or {}),
        headers=dict(headers or {}),
        _id=str(uuid.uuid4()),
        method=method,
        path=path,
        size=len(body),
        timestamp=int(time.time()),
        url=path,
    )


def _as_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    return str(body).encode("utf-8")


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, default=str).encode("utf-8")


def encode_output(output: Any, *, strict_list_return: bool = False) -> RuntimeResponse:
    """Turn a handler's return value into a response as ``Response.from_entrypoint_output`` does.

    A top-level list is a batch since Nuclio 1.13.3: only its first element is answered (or a
    500 with ``strict_list_return``). Functions of this project always return a ``Response``.
    """
    if isinstance(output, list):
        message = "handler returned a bare list: Nuclio >= 1.13.3 treats it as a batch and answers only item 0"
        if strict_list_return:
            return RuntimeResponse(500, "text/plain", {}, message.encode())
        LOG.warning(message)
        if not output:
            return RuntimeResponse(500, "text/plain", {}, b"handler returned an empty batch")
        output = output[0]
    if isinstance(output, nuclio_sdk.Response):
        body, content_type = output.body, output.content_type or "text/plain"
        if isinstance(body, (dict, list)):
            body, content_type = _json_bytes(body), "application/json"
        headers = {str(k): str(v) for k, v in (output.headers or {}).items()}
        return RuntimeResponse(int(output.status_code or 200), content_type, headers, _as_bytes(body))
    if isinstance(output, tuple) and len(output) == 2:
        status, body = output
        if isinstance(body, str):
            return RuntimeResponse(int(status), "text/plain", {}, body.encode())
        return RuntimeResponse(int(status), "application/json", {}, _json_bytes(body))
    if isinstance(output, dict):
        return RuntimeResponse(200, "application/json", {}, _json_bytes(output))
    if isinstance(output, bytes):
        return RuntimeResponse(200, "text/plain", {}, output)
    if isinstance(output, str):
        return RuntimeResponse(200, "text/plain", {}, output.encode())
    return RuntimeResponse(200, "text/plain", {}, _as_bytes(output))


def exception_response(error: BaseException) -> RuntimeResponse:
    """Nuclio's answer to an exception escaping the handler: 500 with the traceback as text."""
    text = f'Exception caught in handler - "{error}": {"".join(traceback.format_exception(error))}'
    return RuntimeResponse(500, "text/plain", {}, text.encode())
