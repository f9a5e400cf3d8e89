"""Errors of the lambda gateway and task API, each with the HTTP status CVAT would answer."""

from __future__ import annotations


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


class Conflict(GatewayError):
    """A second request on the same task while one runs (409)."""

    status = 409


class InvalidFunctionMetadata(GatewayError):
    """A function whose annotations CVAT cannot use: left out of the list, 500 on retrieve."""

    status = 500
