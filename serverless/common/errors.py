"""Errors a function raises; each class carries the HTTP status it becomes.

Handlers raise, they never build error responses themselves: :func:`common.handler.serve`
turns any exception into a JSON ``{"error": message}`` response with ``status_code``.
"""

from __future__ import annotations


class FunctionError(Exception):
    """Base error of a function: anything unknown is an internal error (500)."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(FunctionError):
    """The request is malformed: a field is missing, of the wrong type or out of range."""

    status_code = 400


class PayloadTooLarge(BadRequest):
    """The request, or an image inside it, is over a configured size limit."""

    status_code = 413


class InvalidTrackerState(BadRequest):
    """A tracker state is forged, expired, unknown or malformed."""


class BadModelOutput(FunctionError):
    """The model broke its output contract (a bug in the function, not in the request)."""


class InvalidFunctionConfig(FunctionError):
    """function.yaml is unreadable or its label spec breaks CVAT's rules."""


def status_of(error: BaseException) -> int:
    """Return the HTTP status an exception maps to (500 for anything not a FunctionError)."""
    for cls in type(error).__mro__:
        status = cls.__dict__.get("status_code")
        if isinstance(status, int):
            return status
    return 500


class StateStoreUnavailable(FunctionError):
    """The tracker state store (Redis) cannot be reached: retry later (503)."""

    status_code = 503
