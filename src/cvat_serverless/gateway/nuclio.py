"""Talking to a Nuclio dashboard (ours or a real one) the way CVAT's ``LambdaGateway`` does."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from cvat_serverless.gateway.errors import GatewayError, NotFound
from cvat_serverless.gateway.functions import LambdaFunction
from cvat_serverless.observability import REQUEST_ID_HEADER, request_id

LOG_NAME = "cvat_serverless.gateway"


@dataclass(frozen=True)
class NuclioSettings:
    """CVAT's ``settings.NUCLIO`` (same environment variables), plus an optional dashboard token."""

    scheme: str = "http"
    host: str = "localhost"
    port: int = 8070
    timeout_s: float = 120.0
    namespace: str = "nuclio"
    invoke_method: str = "dashboard"
    token: str | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NuclioSettings:
        """Read ``CVAT_NUCLIO_SCHEME/HOST/PORT/DEFAULT_TIMEOUT/FUNCTION_NAMESPACE/INVOKE_METHOD``."""
        env = os.environ if environ is None else environ
        default_method = "dashboard" if env.get("KUBERNETES_SERVICE_HOST") else "direct"
        method = env.get("CVAT_NUCLIO_INVOKE_METHOD") or default_method
        if method not in ("dashboard", "direct"):
            raise ValueError(f"CVAT_NUCLIO_INVOKE_METHOD must be dashboard or direct, got {method!r}")
        return cls(
            scheme=env.get("CVAT_NUCLIO_SCHEME", "http"),
            host=env.get("CVAT_NUCLIO_HOST", "localhost"),
            port=int(env.get("CVAT_NUCLIO_PORT", "8070")),
            timeout_s=float(env.get("CVAT_NUCLIO_DEFAULT_TIMEOUT", "120")),
            namespace=env.get("CVAT_NUCLIO_FUNCTION_NAMESPACE", "nuclio"),
            invoke_method=method,
            token=env.get("CVAT_NUCLIO_TOKEN") or None,
        )

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings (for queue workers)."""
        env = {
            "CVAT_NUCLIO_SCHEME": self.scheme,
            "CVAT_NUCLIO_HOST": self.host,
            "CVAT_NUCLIO_PORT": str(self.port),
            "CVAT_NUCLIO_DEFAULT_TIMEOUT": f"{self.timeout_s:g}",
            "CVAT_NUCLIO_FUNCTION_NAMESPACE": self.namespace,
            "CVAT_NUCLIO_INVOKE_METHOD": self.invoke_method,
        }
        if self.token:
            env["CVAT_NUCLIO_TOKEN"] = self.token
        return env


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, Mapping) and isinstance(body.get("error"), str):
        return body["error"]
    return json.dumps(body)[:2000]


class NuclioClient:
    """List, get and invoke functions; errors mapped as CVAT maps them (503, 504, pass-through)."""

    def __init__(self, settings: NuclioSettings) -> None:
        self.settings = settings
        headers = {
            "x-nuclio-project-name": "cvat",
            "x-nuclio-function-namespace": settings.namespace,
            "x-nuclio-invoke-via": "domain-name",
            "x-nuclio-invoke-timeout": f"{settings.timeout_s:g}s",
        }
        if settings.token:
            headers["authorization"] = f"Bearer {settings.token}"
        self._http = httpx.Client(base_url=settings.url, headers=headers, timeout=settings.timeout_s)

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if request_id.get():  # the same id down to the function's log lines
            kwargs["headers"] = {**(kwargs.get("headers") or {}), REQUEST_ID_HEADER: request_id.get()}
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as error:
            raise GatewayError(f"the function did not answer in time: {error}", 504) from None
        except httpx.TransportError as error:
            raise GatewayError(f"the Nuclio dashboard or function is unreachable: {error}", 503) from None
        if response.status_code >= 400:
            raise GatewayError(_message(response), response.status_code)
        return response

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise GatewayError(f"the function answered with non-JSON: {response.text[:200]!r}", 500) from None

    def list(self) -> tuple[list[LambdaFunction], dict[str, str]]:
        """Every function CVAT can use, and ``{name: reason}`` for those left out for bad metadata."""
        data = self._json(self._request("GET", "/api/functions"))
        functions, skipped = [], {}
        for name, config in (data or {}).items():
            try:
                functions.append(LambdaFunction.from_config(config))
            except GatewayError as error:
                skipped[str(name)] = error.message
        return functions, skipped

    def get(self, func_id: str) -> LambdaFunction:
        """One function; 404 when the dashboard does not know it, 500 for bad metadata."""
        try:
            response = self._request("GET", f"/api/functions/{func_id}")
        except GatewayError as error:
            if error.status == 404:
                raise NotFound(f"function {func_id!r} not found") from None
            raise
        return LambdaFunction.from_config(self._json(response))

    def invoke(self, function: LambdaFunction, payload: Mapping[str, Any]) -> Any:
        """Call the function with a JSON payload and return its decoded JSON answer."""
        body = json.dumps(payload).encode()
        headers = {"content-type": "application/json"}
        if self.settings.invoke_method == "direct" and function.http_port:
            url = f"{self.settings.scheme}://{self.settings.host}:{function.http_port}/"
            response = self._request("POST", url, content=body, headers=headers)
        else:
            headers.update({"x-nuclio-function-name": function.id, "x-nuclio-path": "/"})
            response = self._request("POST", "/api/function_invocations", content=body, headers=headers)
        return self._json(response)
