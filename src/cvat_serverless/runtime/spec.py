"""Read what the runtime needs from a function.yaml (Nuclio's field names and defaults)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_MAX_REQUEST_BODY_SIZE = 4 * 1024 * 1024
DEFAULT_WORKER_AVAILABILITY_TIMEOUT_MS = 10_000
DEFAULT_EVENT_TIMEOUT_S = 60.0
HANDLER_PATTERN = re.compile(r"^([\w|-]+(\.[\w|-]+)*):(\w+)$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class FunctionSpecError(ValueError):
    """function.yaml is missing or does not describe a runnable function."""


def parse_duration(text: str) -> float:
    """Parse a Go duration (``30s``, ``1m30s``, ``500ms``) into seconds."""
    value = str(text).strip()
    parts = _DURATION_PART.findall(value)
    if not value or "".join(number + unit for number, unit in parts) != value:
        raise FunctionSpecError(f"not a Go duration: {text!r}")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


@dataclass(frozen=True)
class FunctionSpec:
    """What the runtime needs from a function.yaml."""

    name: str
    handler: str
    env: dict[str, str]
    num_workers: int
    event_timeout_s: float
    worker_availability_timeout_s: float
    max_request_body_size: int
    yaml_path: Path
    function_dir: Path
    annotations: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def module_name(self) -> str:
        """The handler's module (``main`` for ``main:handler``)."""
        return self.handler.split(":", 1)[0]

    @property
    def entrypoint(self) -> str:
        """The handler's function name."""
        return self.handler.split(":", 1)[1]


def _http_trigger(spec: dict[str, Any]) -> dict[str, Any]:
    for trigger in (spec.get("triggers") or {}).values():
        if isinstance(trigger, dict) and trigger.get("kind") == "http":
            return trigger
    return {}


def read_function_spec(function_dir: Path | str, yaml_name: str = "function.yaml") -> FunctionSpec:
    """Read ``function_dir/yaml_name``; raises :class:`FunctionSpecError` naming the problem."""
    directory = Path(function_dir).resolve()
    path = directory / yaml_name
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise FunctionSpecError(f"{path}: cannot read: {error}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("metadata"), dict):
        raise FunctionSpecError(f"{path}: no metadata section")
    spec = raw.get("spec") or {}
    handler = str(spec.get("handler", "main:handler"))
    if not HANDLER_PATTERN.match(handler):
        raise FunctionSpecError(f"{path}: handler {handler!r} is not 'module:function'")
    trigger = _http_trigger(spec)
    attributes = trigger.get("attributes") or {}
    env = {str(item["name"]): str(item.get("value", "")) for item in spec.get("env") or [] if "name" in item}
    annotations = {str(k): "" if v is None else str(v) for k, v in (raw["metadata"].get("annotations") or {}).items()}
    timeout_ms = trigger.get("workerAvailabilityTimeoutMilliseconds", DEFAULT_WORKER_AVAILABILITY_TIMEOUT_MS)
    return FunctionSpec(
        name=str(raw["metadata"].get("name", directory.name)),
        handler=handler,
        env=env,
        num_workers=max(1, int(trigger.get("numWorkers") or trigger.get("maxWorkers") or 1)),
        event_timeout_s=parse_duration(spec["eventTimeout"]) if spec.get("eventTimeout") else DEFAULT_EVENT_TIMEOUT_S,
        worker_availability_timeout_s=float(timeout_ms) / 1000.0,
        max_request_body_size=int(attributes.get("maxRequestBodySize") or DEFAULT_MAX_REQUEST_BODY_SIZE),
        yaml_path=path,
        function_dir=directory,
        annotations=annotations,
        raw=raw,
    )
