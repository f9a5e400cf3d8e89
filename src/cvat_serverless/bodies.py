"""Request bodies on every transport of the local stack: one size guard, one JSON parser.

The processor, the dashboard and the gateway read bodies through here: a body is refused with a
413 as soon as it passes the limit (declared ``Content-Length`` or counted while streaming, so a
chunked upload cannot fill memory or disk), and JSON is parsed with the function library's depth
limit (a body of nested brackets is a 400, never a ``RecursionError``).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from common.errors import BadRequest
from common.handling import MAX_JSON_DEPTH, check_depth


class BodyTooLarge(Exception):
    """The request body is over the limit; ``str()`` says by how much."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        size = f"of {declared} bytes " if declared is not None else ""
        super().__init__(f"request body {size}is over the {limit}-byte limit")
        self.limit = limit


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, or :class:`BodyTooLarge` once it passes ``limit`` bytes (never more is held)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit, int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def loads_object(raw: bytes | str, *, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON object body (``empty`` for a blank body when given), checked for depth; else :class:`BadRequest`."""
    if empty is not None and not raw.strip():
        return empty
    try:
        data = json.loads(raw)
    except (ValueError, TypeError) as error:  # bad JSON, bad UTF-8, an integer past Python's digit limit
        raise BadRequest(f"the body is not valid JSON: {error}") from None
    except RecursionError:
        raise BadRequest(f"the body nests arrays/objects more than {MAX_JSON_DEPTH} levels deep") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    check_depth(data)
    return data
