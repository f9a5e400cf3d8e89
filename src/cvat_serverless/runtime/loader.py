"""Load a function folder in this process and call it the way Nuclio's Python wrapper does."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import nuclio_sdk
from nuclio_sdk.logger import HumanReadableFormatter, JSONFormatter

from cvat_serverless.runtime.encoding import RuntimeResponse, build_event, encode_output, exception_response
from cvat_serverless.runtime.spec import FunctionSpec, read_function_spec


def make_context(spec: FunctionSpec, worker_id: int, level: int = logging.INFO) -> nuclio_sdk.Context:
    """A Nuclio context with a human-readable logger on stderr."""
    logger = nuclio_sdk.Logger(level, name=f"{spec.name}.w{worker_id}")
    json_lines = os.environ.get("CVAT_SERVERLESS_LOG_FORMAT", "").strip().lower() == "json"
    logger.set_handler("default", sys.stderr, JSONFormatter() if json_lines else HumanReadableFormatter())
    return nuclio_sdk.Context(
        logger=logger, worker_id=worker_id, trigger=nuclio_sdk.TriggerInfo("http", "myHttpTrigger")
    )


def _run(value: Any) -> Any:
    return asyncio.run(value) if asyncio.iscoroutine(value) else value


def _import_isolated(spec: FunctionSpec) -> tuple[ModuleType, list[ModuleType]]:
    """Import the handler module from the folder, then take the folder's modules out of sys.modules.

    Several folders each have a ``main.py`` and ``model_handler.py``; without this a second
    folder would get the first folder's modules from the import cache.
    """
    folder = str(spec.function_dir)
    sys.path.insert(0, folder)
    before = set(sys.modules)
    try:
        module = importlib.import_module(spec.module_name)
    finally:
        sys.path.remove(folder)
        owned = []
        for name in set(sys.modules) - before:
            candidate = sys.modules[name]
            if str(getattr(candidate, "__file__", "") or "").startswith(folder + os.sep):
                owned.append(sys.modules.pop(name))
    return module, owned


class LoadedFunction:
    """One function folder loaded in this process: ``init_context`` ran once, ``invoke`` calls the handler."""

    def __init__(
        self,
        spec: FunctionSpec,
        module: ModuleType,
        modules: list[ModuleType],
        context: nuclio_sdk.Context,
        saved_env: dict[str, str | None],
        strict_list_return: bool,
    ) -> None:
        self.spec = spec
        self.context = context
        self._module = module
        self._modules = modules
        self._entrypoint = getattr(module, spec.entrypoint)
        self._saved_env = saved_env
        self._strict = strict_list_return

    @classmethod
    def load(
        cls,
        function_dir: Path | str,
        *,
        yaml_name: str = "function.yaml",
        env: Mapping[str, str] | None = None,
        worker_id: int = 0,
        strict_list_return: bool = False,
    ) -> LoadedFunction:
        """Apply ``spec.env`` (+ ``env``), import the handler and run ``init_context``.

        ``spec.env`` holds defaults: a variable already set in this process's environment keeps its
        value (so ``SIAMMASK_HOME=... pytest`` points a function at local code), and ``env`` wins
        over both (tests point CVAT_FUNCTION_YAML at a variant of the spec this way).
        """
        spec = read_function_spec(function_dir, yaml_name)
        defaults = {name: value for name, value in spec.env.items() if name not in os.environ}
        variables = {**defaults, "CVAT_FUNCTION_YAML": str(spec.yaml_path), **(env or {})}
        saved = {name: os.environ.get(name) for name in variables}
        os.environ.update(variables)
        try:
            module, modules = _import_isolated(spec)
            if not hasattr(module, spec.entrypoint):
                raise AttributeError(f"{spec.yaml_path}: {spec.module_name} has no {spec.entrypoint!r}")
            context = make_context(spec, worker_id)
            if hasattr(module, "init_context"):
                _run(module.init_context(context))
        except BaseException:
            _restore(saved)
            raise
        return cls(spec, module, modules, context, saved, strict_list_return)

    def invoke(
        self,
        body: bytes | str | dict | None,
        *,
        content_type: str = "application/json",
        method: str = "POST",
        path: str = "/",
        headers: Mapping[str, str] | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> RuntimeResponse:
        """Call the handler with one event; an escaping exception becomes Nuclio's 500."""
        if isinstance(body, dict):
            raw = json.dumps(body).encode()
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = body or b""
        request = (headers or {}).get("x-request-id")
        bound = self.context.logger._bound_variables  # nuclio_sdk's Logger has bind() but no unbind
        if request:
            bound["request_id"] = request
        try:
            event = build_event(
                raw, content_type=content_type, method=method, path=path, headers=headers, fields=fields
            )
            return encode_output(_run(self._entrypoint(self.context, event)), strict_list_return=self._strict)
        except Exception as error:
            return exception_response(error)
        finally:
            bound.pop("request_id", None)

    def close(self) -> None:
        """Restore the environment and drop the loaded modules."""
        _restore(self._saved_env)
        self._saved_env = {}
        self._modules.clear()


def _restore(saved: Mapping[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
