"""How the harness reaches a function: in-process, over HTTP through a processor, or via CVAT's lambda API.

Each transport opens a :class:`FunctionClient` for one function folder; the client sends raw
request bytes with a content type and returns ``(status, body bytes)``, so the same cases and
bad inputs run unchanged through every transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import httpx


class FunctionClient(Protocol):
    """An open connection to one function."""

    def call(self, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
        """Send one request; return the status and the raw response body."""
        ...

    def close(self) -> None:
        """Release the function (stop processes, unload modules)."""
        ...


class Transport(Protocol):
    """A way to reach a function folder."""

    name: str

    def open(self, function_dir: Path, env: Mapping[str, str]) -> FunctionClient:
        """Load or start the function with ``env`` and return a client for it."""
        ...


class _InProcessClient:
    def __init__(self, function_dir: Path, env: Mapping[str, str]) -> None:
        from cvat_serverless.runtime import LoadedFunction

        self._function = LoadedFunction.load(function_dir, env=env)

    def call(self, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
        response = self._function.invoke(body, content_type=content_type)
        return response.status_code, response.body

    def close(self) -> None:
        self._function.close()


class InProcessTransport:
    """Calls the handler in this process, with Nuclio's event decoding and response encoding."""

    name = "inprocess"

    def open(self, function_dir: Path, env: Mapping[str, str]) -> FunctionClient:
        """Load the folder's ``main.py`` here and run ``init_context`` once."""
        return _InProcessClient(function_dir, env)


class _HttpClient:
    def __init__(self, function_dir: Path, env: Mapping[str, str]) -> None:
        from cvat_serverless.processor import start_processor

        # One worker: the harness checks behaviour, the processor tests cover several workers.
        self._processor = start_processor(function_dir, env=dict(env), num_workers=1)
        self._http = httpx.Client(base_url=self._processor.url, timeout=300)

    def call(self, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
        response = self._http.post("/", content=body, headers={"Content-Type": content_type})
        return response.status_code, response.content

    def close(self) -> None:
        self._http.close()
        self._processor.stop()


class HttpTransport:
    """Starts ``cvat-serverless serve`` for the folder and calls it over loopback HTTP."""

    name = "http"

    def open(self, function_dir: Path, env: Mapping[str, str]) -> FunctionClient:
        """Start a one-worker processor for the folder and wait until it is ready."""
        return _HttpClient(function_dir, env)


def _gateway_transports() -> dict[str, Transport]:
    from cvat_serverless.harness.lambda_transport import LambdaTransport, RealCvatTransport

    return {"lambda": LambdaTransport(), "cvat": RealCvatTransport()}


TRANSPORTS: dict[str, Transport] = {"inprocess": InProcessTransport(), "http": HttpTransport(), **_gateway_transports()}
GATEWAY_TRANSPORTS = frozenset({"lambda", "cvat"})
"""Transports through CVAT's API: only the cases run there (CVAT builds the function request itself)."""
