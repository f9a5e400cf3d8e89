"""Errors of the lambda gateway and task API, each with the HTTP status CVAT would answer."""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """An error that becomes ``{"error": message}`` with ``status``."""

    status = 500

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(GatewayError):
    """The caller sent something invalid (400)."""

    status = 400


class NotFound(GatewayError):
    """An unknown function, task or request (404)."""

    status = 404


class NoSuch(NotFound):
    """An unknown object on the task API: DRF's 404 body for Django's ``Http404``, as CVAT answers it."""

    def __init__(self, model: str, object_id: object) -> None:
        super().__init__(f"{model.lower()} {object_id} not found")
        self.body = {"detail": f"No {model} matches the given query."}


class Conflict(GatewayError):
    """A second request on the same task while one runs (409)."""

    status = 409


class InvalidFunctionMetadata(GatewayError):
    """A function whose annotations CVAT cannot use: left out of the list, 500 on retrieve."""

    status = 500


class ValidationFailed(GatewayError):
    """A 400 whose body is a DRF-style error (a list, or field → messages), exactly as CVAT answers it."""

    status = 400

    def __init__(self, body: Any) -> None:
        super().__init__(str(body), 400)
        self.body = body


class Forbidden(GatewayError):
    """The user may not do this (403 with DRF's ``detail``, as CVAT answers)."""

    status = 403

    def __init__(self, message: str = "You do not have permission to perform this action.") -> None:
        super().__init__(message, 403)
        self.body = {"detail": message}
