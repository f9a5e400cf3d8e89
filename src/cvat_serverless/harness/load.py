"""A platform process under load, for tests and benchmarks: the stack's processes, concurrent clients, answers.

:class:`Platform` runs ``cvat-serverless platform`` in its own process (as a user runs it), so the load's
clients never share a GIL with the servers; :func:`sample_tree` reads the RSS and open fds of it, its
processors and their workers from ``/proc``; :func:`run_clients` runs K concurrent clients, one
connection each, and :func:`judge` says whether an answer is one the stack promises (a 200, or a JSON error).
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

CVAT_HEADERS = {"x-nuclio-project-name": "cvat", "x-nuclio-invoke-via": "domain-name"}
Send = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


# ---- processes: the platform, its processors and their workers, read from /proc (no psutil here)


@dataclass(frozen=True)
class ProcSample:
    """One process at one moment."""

    pid: int
    role: str
    """``platform``, ``processor``, ``worker`` or ``helper`` (multiprocessing's resource tracker)."""
    rss_kb: int
    fds: int


def children(pid: int) -> list[int]:
    """The processes ``pid`` started, from /proc (Linux)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def _role(pid: int, parent_role: str) -> str:
    command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    if parent_role == "platform" and b"cvat_serverless.processor" in command:
        return "processor"
    if parent_role == "processor" and b"spawn_main" in command and b"resource_tracker" not in command:
        return "worker"
    return "helper"


def _rss_kb(pid: int) -> int:
    match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def sample_tree(root: int) -> dict[int, ProcSample]:
    """RSS and open fds of ``root`` (the platform) and every process under it; vanished ones are skipped."""
    found: dict[int, ProcSample] = {}
    pending = [(root, "platform")]
    while pending:
        pid, role = pending.pop()
        try:
            found[pid] = ProcSample(pid, role, _rss_kb(pid), len(os.listdir(f"/proc/{pid}/fd")))
            pending += [(child, _role(child, role)) for child in children(pid)]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def total_kb(samples: Mapping[int, ProcSample], roles: tuple[str, ...]) -> int:
    """Summed RSS of the processes with one of ``roles``."""
    return sum(s.rss_kb for s in samples.values() if s.role in roles)


class PeakSampler:
    """Samples a process tree every ``interval_s`` on a thread; keeps each process's highest RSS and fds."""

    def __init__(self, root: int, interval_s: float = 0.2) -> None:
        self.root, self.interval_s = root, interval_s
        self.peak: dict[int, ProcSample] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            for pid, now in sample_tree(self.root).items():
                old = self.peak.get(pid)
                if old is None:
                    self.peak[pid] = now
                else:
                    self.peak[pid] = ProcSample(pid, now.role, max(old.rss_kb, now.rss_kb), max(old.fds, now.fds))

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---- the platform in its own process


def _source_roots() -> list[str]:
    """Where this process found ``cvat_serverless`` and ``common``: the platform runs the same code."""
    import common
    import cvat_serverless

    return [str(Path(module.__file__ or "").resolve().parents[1]) for module in (cvat_serverless, common)]


@dataclass
class Platform:
    """``cvat-serverless platform <folders>`` as a subprocess of this Python, on free loopback ports."""

    folders: list[Path]
    data_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    dashboard: str = ""
    gateway: str = ""

    def start(self, timeout_s: float = 300) -> Platform:
        from cvat_serverless.stack import free_port

        dashboard_port, gateway_port = free_port(), free_port()
        self.dashboard, self.gateway = f"http://127.0.0.1:{dashboard_port}", f"http://127.0.0.1:{gateway_port}"
        command = [sys.executable, "-m", "cvat_serverless.cli", "platform", *map(str, self.folders)]
        command += ["--dashboard-port", str(dashboard_port), "--gateway-port", str(gateway_port)]
        command += ["--data-dir", str(self.data_dir), *(f"--env={k}={v}" for k, v in self.env.items())]
        path = os.pathsep.join([*_source_roots(), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.process = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": path}, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the platform did not become ready (exit code {self.process.returncode})")
            time.sleep(0.2)
        return self

    def _ready(self) -> bool:
        try:
            states = httpx.get(f"{self.dashboard}/api/healthz", timeout=5).json()["functions"]
            httpx.get(f"{self.gateway}/api/server/about", timeout=5).raise_for_status()
        except (httpx.HTTPError, ValueError, KeyError):
            return False
        return bool(states) and set(states.values()) == {"ready"}

    def function_port(self, name: str) -> int:
        """The processor port the dashboard reports for a function (CVAT's ``direct`` invocation uses it)."""
        config = httpx.get(f"{self.dashboard}/api/functions/{name}", headers=CVAT_HEADERS, timeout=10).json()
        return int(config["status"]["httpPort"])

    def token(self, username: str = "admin", password: str = "admin") -> str:
        """An API key from ``/api/auth/login`` (what cvat-sdk and CVAT's UI send as ``Token <key>``)."""
        answer = httpx.post(f"{self.gateway}/api/auth/login", json={"username": username, "password": password})
        answer.raise_for_status()
        return str(answer.json()["key"])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


def copy_with_trigger(folder: Path, into: Path, **trigger: int) -> Path:
    """A copy of a function folder whose HTTP trigger has ``trigger``'s fields overridden
    (``numWorkers``, ``workerAvailabilityTimeoutMilliseconds``)."""
    import yaml

    target = into / folder.parent.name
    shutil.copytree(folder, target / "nuclio")
    path = target / "nuclio" / "function.yaml"
    config = yaml.safe_load(path.read_text())
    for spec in config["spec"]["triggers"].values():
        if spec.get("kind") == "http":
            spec.update(trigger)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return target / "nuclio"


# ---- clients


@dataclass(frozen=True)
class Outcome:
    """One request: its status (0 when the connection failed), seconds, and what was wrong with the answer."""

    status: int
    seconds: float
    problem: str = ""
    """Empty for a 200, or an error answer with a JSON object body; else what it was (``reset: ReadError``)."""


def judge(response: httpx.Response, seconds: float) -> Outcome:
    """A non-200 must carry a JSON error: ``{"error": ...}``, DRF's ``{"detail": ...}`` or CVAT's bare string."""
    if response.status_code == 200:
        return Outcome(200, seconds)
    try:
        body = response.json()
    except ValueError:
        body = None
    # the processor and dashboard answer {"error": ...}, DRF {"detail": ...}, CVAT's lambda views a bare string
    ok = (isinstance(body, dict) and ("error" in body or "detail" in body)) or (isinstance(body, str) and bool(body))
    return Outcome(response.status_code, seconds, "" if ok else f"not a JSON error: {response.text[:80]!r}")


async def run_clients(send: Send, clients: int, *, requests: int = 0, seconds: float = 0.0) -> list[Outcome]:
    """``clients`` concurrent clients, each on its own connection, each sending ``requests`` calls (or
    calling back to back until ``seconds`` have passed)."""
    stop_at = time.perf_counter() + seconds

    def more(done: list[Outcome]) -> bool:
        return len(done) < requests if requests else time.perf_counter() < stop_at

    async def one_client() -> list[Outcome]:
        done: list[Outcome] = []
        async with httpx.AsyncClient(timeout=300) as client:
            while more(done):
                started = time.perf_counter()
                try:
                    response = await send(client)
                except httpx.TransportError as error:
                    done.append(Outcome(0, time.perf_counter() - started, f"reset: {type(error).__name__}"))
                    continue
                done.append(judge(response, time.perf_counter() - started))
        return done

    results = await asyncio.gather(*(one_client() for _ in range(clients)))
    return [outcome for result in results for outcome in result]


def paths(platform: Platform, function: str, port: int, task: int, token: str, image: bytes) -> dict[str, Send]:
    """The three ways a client reaches the function, as CVAT (or a user) calls each."""
    body = {"image": base64.b64encode(image).decode()}
    invocation = {**CVAT_HEADERS, "x-nuclio-function-name": function}
    auth = {"Authorization": f"Token {token}"}
    return {
        "processor (direct)": lambda c: c.post(f"http://127.0.0.1:{port}/", json=body),
        "dashboard invocation": lambda c: c.post(
            f"{platform.dashboard}/api/function_invocations", json=body, headers=invocation
        ),
        "gateway online call": lambda c: c.post(
            f"{platform.gateway}/api/lambda/functions/{function}", json={"task": task, "frame": 0}, headers=auth
        ),
    }


def server_errors(platform: Platform, ports: list[int]) -> dict[str, int]:
    """The 5xx answers each server counted itself (``cvat_serverless_requests`` in ``/metrics``), and restarts."""
    from prometheus_client.parser import text_string_to_metric_families

    counted: Counter[str] = Counter()
    urls = [platform.dashboard, platform.gateway, *(f"http://127.0.0.1:{p}" for p in ports)]
    for url in urls:
        for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
            for sample in family.samples:
                if sample.name == "cvat_serverless_requests_total" and sample.labels["status"].startswith("5"):
                    counted[f"{sample.labels['component']} {sample.labels['status']}"] += int(sample.value)
                elif sample.name.endswith("_restarts") and sample.value:
                    counted[sample.name.removeprefix("cvat_serverless_")] += int(sample.value)
    return dict(counted)
