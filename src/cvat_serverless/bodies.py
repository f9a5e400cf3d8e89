"""Request bodies on every transport of the local stack: one size guard, one JSON parser.

The processor, the dashboard and the gateway read bodies through here: a body is refused with a
413 as soon as it passes the limit (declared ``Content-Length`` or counted while streaming, so a
chunked upload cannot fill memory or disk), and JSON is parsed with the function library's depth
limit (a body of nested brackets is a 400, never a ``RecursionError``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from common.handling import parse_object


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
    return parse_object(raw)
