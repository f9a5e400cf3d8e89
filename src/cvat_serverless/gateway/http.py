"""Small HTTP helpers shared by the gateway's route modules: bodies, paths and error responses."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from cvat_serverless.gateway.errors import BadRequest, GatewayError, NotFound


def error_response(error: GatewayError) -> JSONResponse:
    """``{"error": message}`` with the error's status, or CVAT's own body where the error carries one."""
    body = getattr(error, "body", None)
    return JSONResponse(body if body is not None else {"error": error.message}, status_code=error.status)


def both(path: str) -> list[str]:
    """A path with and without its trailing slash (cvat-sdk uses both styles)."""
    bare = path.rstrip("/")
    return [bare, bare + "/"]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or a 413 once it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise GatewayError(f"request body of {declared} bytes is over the {limit}-byte limit", 413)
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise GatewayError(f"request body is over the {limit}-byte limit", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def json_body(raw: bytes) -> dict[str, Any]:
    """A JSON object body; an empty body is an empty object (cvat-sdk sends JSON content type on empty POSTs)."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def path_int(request: Request, name: str = "id") -> int:
    value = request.path_params[name]
    if not str(value).isdigit():
        raise NotFound(f"{name} {value!r} not found")
    return int(value)


def listing(results: list[Any]) -> JSONResponse:
    """CVAT's paginated list shape (everything on one page here)."""
    return JSONResponse({"count": len(results), "next": None, "previous": None, "results": results})
