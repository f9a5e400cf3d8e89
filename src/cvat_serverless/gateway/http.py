"""Small HTTP helpers shared by the gateway's route modules: bodies, paths and error responses."""

from __future__ import annotations

import math
import sys
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from common.errors import BadRequest as FunctionBadRequest
from cvat_serverless.bodies import BodyTooLarge, loads_object, read_limited
from cvat_serverless.gateway.errors import BadRequest, GatewayError
from cvat_serverless.gateway.numbers import id_or_404


def error_response(error: GatewayError) -> JSONResponse:
    """``{"error": message}`` with the error's status, or CVAT's own body where the error carries one."""
    body = getattr(error, "body", None)
    return JSONResponse(body if body is not None else {"error": error.message}, status_code=error.status)


def both(path: str) -> list[str]:
    """A path with and without its trailing slash (cvat-sdk uses both styles)."""
    bare = path.rstrip("/")
    return [bare, bare + "/"]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or a 413 once it passes ``limit`` bytes (the stack's one body guard)."""
    try:
        return await read_limited(request, limit)
    except BodyTooLarge as error:
        raise GatewayError(str(error), 413) from None


FLOAT_MAX = int(sys.float_info.max)  # integers past it cannot become a float


def json_body(raw: bytes) -> dict[str, Any]:
    """A JSON object body; an empty body is an empty object (cvat-sdk sends JSON content type on empty POSTs).
    Nesting past the library's depth limit is a 400, as on every transport; so is a number that is not
    finite (``NaN``, ``Infinity``, ``1e400``), which DRF's strict JSON parser refuses in CVAT, or an integer
    no float can hold (over 308 digits: every number field would overflow on it)."""
    try:
        data = loads_object(raw, empty={})
    except FunctionBadRequest as error:
        raise BadRequest(error.message) from None
    if not _finite(data):
        raise BadRequest(
            "JSON parse error - Out of range float values are not JSON compliant (nor integers past 1e308)"
        )
    return data


def _finite(value: Any) -> bool:
    """True when no number anywhere in a parsed JSON value is NaN, infinite or an integer past the float range
    (walked without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, int):
            if abs(item) > FLOAT_MAX:
                return False
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def path_int(request: Request, name: str = "id") -> int:
    """A path id through the gateway's one integer parser: anything else names nothing (404)."""
    return id_or_404(request.path_params[name], name)


def listing(results: list[Any]) -> JSONResponse:
    """CVAT's paginated list shape (everything on one page here)."""
    return JSONResponse({"count": len(results), "next": None, "previous": None, "results": results})
