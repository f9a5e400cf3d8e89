"""Tests for ``python -m common.fetch_weights``: checksums, strict mode, retries and interrupted downloads.

Downloads go over file:// URLs and over a local http.server on 127.0.0.1 that can cut a response
short, answer 503 or 404, so every failure path runs against a real socket.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.fetch_weights import STRICT_VARIABLE, main

REPO = Path(__file__).parents[1]
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, larger than one read chunk would need to be
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
SHA384 = hashlib.sha384(PAYLOAD).hexdigest()
FAST = ["--retry-delay", "0", "--timeout", "5"]


def _run(*args: str, env: dict[str, str] | None = None) -> int:
    return main([*args, *FAST], environ=env or {})


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


@pytest.fixture
def source(tmp_path: Path) -> str:
    path = tmp_path / "src" / "weights.pth"
    path.parent.mkdir()
    path.write_bytes(PAYLOAD)
    return path.as_uri()


class _Server:
    """A 127.0.0.1 HTTP server whose answers follow a script: 'ok', 'cut' (half the body, then close), '503', '404'."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                mode = server.script.pop(0) if server.script else "ok"
                if mode in {"503", "404"}:
                    self.send_error(int(mode))
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                self.wfile.write(PAYLOAD if mode == "ok" else PAYLOAD[: len(PAYLOAD) // 2])
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/weights.pth"


@pytest.fixture
def server() -> Iterator[_Server]:
    fake = _Server()
    thread = threading.Thread(target=fake.httpd.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.httpd.shutdown()
    fake.httpd.server_close()
    thread.join(timeout=5)


def test_sha256_pin_verifies_and_writes_dest(source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "out" / "w.pth"
    assert _run(source, str(dest), "--sha256", SHA256) == 0
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("w.pth.sha256").exists()
    assert SHA256 in capsys.readouterr().out
    assert _leftovers(dest.parent) == []


def test_sha384_pin_verifies(source: str, tmp_path: Path) -> None:
    dest = tmp_path / "w.pth"
    assert _run(source, str(dest), "--sha384", SHA384.upper()) == 0
    assert dest.read_bytes() == PAYLOAD


@pytest.mark.parametrize("flag,wrong", [("--sha256", "0" * 64), ("--sha384", "f" * 96), ("--sha256", "deadbeef")])
def test_mismatch_exits_1_and_leaves_nothing(
    source: str, tmp_path: Path, flag: str, wrong: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "w.pth"
    dest.write_bytes(b"stale unverified file")
    assert _run(source, str(dest), flag, wrong) == 1
    assert not dest.exists()
    assert _leftovers(tmp_path) == []
    assert "mismatch" in capsys.readouterr().err


def test_missing_checksum_records_the_sha256(source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "w.pth"
    assert _run(source, str(dest)) == 0
    assert dest.read_bytes() == PAYLOAD
    assert dest.with_name("w.pth.sha256").read_text() == f"{SHA256}  w.pth\n"
    captured = capsys.readouterr()
    assert SHA256 in captured.out and f"--sha256 {SHA256}" in captured.err


def test_prefix_pin_is_checked_and_the_full_digest_recorded(source: str, tmp_path: Path) -> None:
    dest = tmp_path / "w.pth"
    assert _run(source, str(dest), "--sha256", SHA256[:8]) == 0
    assert dest.with_name("w.pth.sha256").read_text().startswith(SHA256)


@pytest.mark.parametrize("pin", [[], ["--sha256", SHA256[:8]]])
def test_strict_mode_refuses_weights_without_a_full_pin(
    source: str, tmp_path: Path, pin: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "w.pth"
    assert _run(source, str(dest), *pin, env={STRICT_VARIABLE: "1"}) == 2
    assert not dest.exists() and list(tmp_path.iterdir()) == [tmp_path / "src"]
    assert STRICT_VARIABLE in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", ""])
def test_strict_mode_off_values(source: str, tmp_path: Path, value: str) -> None:
    assert _run(source, str(tmp_path / "w.pth"), env={STRICT_VARIABLE: value}) == 0


def test_strict_mode_accepts_a_full_pin(source: str, tmp_path: Path) -> None:
    dest = tmp_path / "w.pth"
    assert _run(source, str(dest), "--sha384", SHA384, env={STRICT_VARIABLE: "1"}) == 0
    assert dest.read_bytes() == PAYLOAD


@pytest.mark.parametrize("bad", [["--sha256", "xyz"], ["--sha256", "abc"], ["--sha384", "a" * 64]])
def test_malformed_checksums_are_usage_errors(source: str, tmp_path: Path, bad: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _run(source, str(tmp_path / "w.pth"), *bad)
    assert exit_info.value.code == 2


def test_missing_file_url_fails_cleanly(tmp_path: Path) -> None:
    dest = tmp_path / "w.pth"
    assert _run((tmp_path / "nope.pth").as_uri(), str(dest), "--retries", "1") == 1
    assert not dest.exists() and _leftovers(tmp_path) == []


def test_http_download_interrupted_then_retried(server: _Server, tmp_path: Path) -> None:
    server.script = ["cut", "503"]
    dest = tmp_path / "w.pth"
    assert _run(server.url, str(dest), "--sha256", SHA256, "--retries", "2") == 0
    assert server.requests == 3
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(tmp_path) == []


def test_http_download_always_cut_leaves_no_dest(
    server: _Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.script = ["cut"] * 3
    dest = tmp_path / "w.pth"
    assert _run(server.url, str(dest), "--retries", "2") == 1
    assert server.requests == 3
    assert not dest.exists() and not dest.with_name("w.pth.sha256").exists()
    assert _leftovers(tmp_path) == []
    assert "short read" in capsys.readouterr().err


def test_http_404_is_not_retried(server: _Server, tmp_path: Path) -> None:
    server.script = ["404"]
    assert _run(server.url, str(tmp_path / "w.pth"), "--retries", "3") == 1
    assert server.requests == 1


def test_cli_runs_as_a_module_from_serverless(source: str, tmp_path: Path) -> None:
    dest = tmp_path / "w.pth"
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", STRICT_VARIABLE}}
    command = [sys.executable, "-m", "common.fetch_weights", source, str(dest), "--sha256", SHA256]
    result = subprocess.run(command, cwd=REPO / "serverless", env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{SHA256}  {dest}"
    strict = subprocess.run(
        [*command[:5]], cwd=REPO / "serverless", env={**env, STRICT_VARIABLE: "1"}, capture_output=True, check=False
    )
    assert strict.returncode == 2
