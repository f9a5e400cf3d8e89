"""The one place where a request becomes a response: body decoding and error mapping.

``serve`` is what every kind's ``handle`` calls. It accepts the event body in any form
Nuclio delivers it (a dict for ``application/json``, bytes otherwise), runs the kind-specific
code and turns every exception into a JSON error response, so nothing escapes into Nuclio's
wrapper (which would answer a 500 with the traceback in the body).
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from nuclio_sdk import Response

from common.errors import BadRequest, FunctionError, status_of
from common.response import error_response, json_response

JSON_TYPES = ("application/json",)
MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays/objects accepted in a body; CVAT's requests nest 4 deep at most."""


def check_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise :class:`BadRequest` when ``value`` nests deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, Mapping) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            raise BadRequest(f"the body nests arrays/objects more than {limit} levels deep")
        stack.extend((child, depth + 1) for child in children if isinstance(child, (Mapping, list)))


def _content_type(event: Any) -> str:
    return str(getattr(event, "content_type", "") or "").split(";", 1)[0].strip().lower()


def request_body(event: Any) -> Mapping[str, Any]:
    """Return the event body as a JSON object.

    - A dict body (Nuclio decoded ``application/json``) is used as is.
    - A bytes/str body is parsed as JSON when the content type is JSON (``charset`` allowed).
    - Anything else is a :class:`BadRequest` that says what was wrong, and so is a body nested
      deeper than :data:`MAX_JSON_DEPTH` (Python's parser would otherwise recurse until it fails).
    """
    body = getattr(event, "body", None)
    if isinstance(body, Mapping):
        check_depth(body)
        return body
    content_type = _content_type(event)
    if content_type not in JSON_TYPES:
        raise BadRequest(f"expected a JSON body with Content-Type 'application/json', got {content_type or 'none'!r}")
    if body is not None and not isinstance(body, (bytes, bytearray, str)):
        raise BadRequest(f"the body must be a JSON object, got {type(body).__name__}")
    if isinstance(body, (bytes, bytearray)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("the body is not UTF-8 text") from None
    if not body:
        raise BadRequest("the body is empty; expected a JSON object")
    return parse_object(body)


def parse_object(text: str | bytes) -> dict[str, Any]:
    """Parse a JSON object, checked for depth; anything else is a :class:`BadRequest` saying why.
    (The local stack's servers parse their bodies with this too.)"""
    try:
        parsed = json.loads(text)
    except (TypeError, ValueError) as error:  # JSONDecodeError, bad UTF-8, an integer past Python's digit limit
        raise BadRequest(f"the body is not valid JSON: {error}") from None
    except RecursionError:
        raise BadRequest(f"the body nests arrays/objects more than {MAX_JSON_DEPTH} levels deep") from None
    if not isinstance(parsed, dict):
        raise BadRequest(f"the body must be a JSON object, got {type(parsed).__name__}")
    check_depth(parsed)
    return parsed


def serve(context: Any, event: Any, run: Callable[[Mapping[str, Any]], Any]) -> Response:
    """Decode ``event``'s JSON body, call ``run(body)`` and wrap its result or error.

    - ``run`` returns a JSON-serialisable payload, or a ``Response`` passed through.
    - :class:`FunctionError` subclasses become their status with ``{"error": message}``.
    - Any other exception becomes a 500 with a short message; the traceback goes to the log only.
    """
    try:
        result = run(request_body(event))
        return result if isinstance(result, Response) else json_response(result)
    except FunctionError as error:
        status = status_of(error)
        if status >= 500:
            context.logger.error_with("function error", error=error.message, traceback=traceback.format_exc())
        else:
            context.logger.info_with("bad request", status=status, error=error.message)
        return error_response(error.message, status)
    except Exception as error:
        context.logger.error_with("unexpected error", error=repr(error), traceback=traceback.format_exc())
        return error_response(f"internal error in the function: {type(error).__name__}: {error}", 500)
