"""Start a processor as a subprocess and talk to it: used by tests, the dashboard and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from cvat_serverless.lifetime import child_env


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ProcessorHandle:
    """A running ``cvat-serverless serve`` subprocess."""

    def __init__(self, process: subprocess.Popen[bytes], host: str, port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"http://{host}:{port}"
        self.pid = process.pid

    def status(self) -> dict[str, Any]:
        """``GET /__internal/status``; ``{"state": "stopped"}`` when the process is gone."""
        if self.process.poll() is not None:
            return {"state": "error", "message": f"processor exited with code {self.process.returncode}"}
        try:
            return httpx.get(f"{self.url}/__internal/status", timeout=5).json()
        except httpx.HTTPError:
            return {"state": "building", "message": "processor is starting"}

    def wait_ready(self, timeout_s: float) -> None:
        """Block until every worker is ready; raise ``RuntimeError`` on error or timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.status()
            if status.get("state") == "ready":
                return
            if status.get("state") == "error":
                raise RuntimeError(f"function failed to start: {status.get('message')}")
            time.sleep(0.2)
        raise RuntimeError(f"function not ready after {timeout_s:.0f} s: {self.status().get('message')}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within 10 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> ProcessorHandle:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def start_processor(
    function_dir: str | Path,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    yaml_name: str = "function.yaml",
    env: Mapping[str, str] | None = None,
    num_workers: int | None = None,
    wait_ready: bool = True,
    ready_timeout_s: float = 300,
) -> ProcessorHandle:
    """Start ``python -m cvat_serverless.processor`` for a folder; by default wait until it is ready."""
    port = port or free_port(host)
    command = [
        sys.executable,
        "-m",
        "cvat_serverless.processor",
        str(function_dir),
        "--host",
        host,
        "--port",
        str(port),
        "--yaml",
        yaml_name,
    ]
    if num_workers:
        command += ["--workers", str(num_workers)]
    for key, value in (env or {}).items():
        command += ["--env", f"{key}={value}"]
    process = subprocess.Popen(command, env=child_env(os.environ))  # it ends with this process
    handle = ProcessorHandle(process, host, port)
    if wait_ready:
        try:
            handle.wait_ready(ready_timeout_s)
        except BaseException:
            handle.stop()
            raise
    return handle
