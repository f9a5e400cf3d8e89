"""``cvat-serverless platform``: function processors, a Nuclio-compatible dashboard and CVAT's lambda API."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import sys
import threading
import warnings
from pathlib import Path

from cvat_serverless.commands.serve import parse_env

SERVERLESS_ROOT = Path(__file__).resolve().parents[3] / "serverless"
DEFAULT_DATA_DIR = Path(os.environ.get("CVAT_SERVERLESS_DATA", Path.home() / ".local/share/cvat-serverless"))


def _usage(stack: object) -> str:
    """What to try, as commands that work as printed on a real photo (no image in argv)."""
    from cvat_serverless.stack import LocalStack

    assert isinstance(stack, LocalStack) and stack.registry is not None
    dashboard, gateway = stack.dashboard_url, stack.gateway_url
    lines = [
        f"Nuclio-compatible dashboard: {dashboard}/api/functions  (metrics: {dashboard}/metrics)",
        f"CVAT lambda API + task API:   {gateway}/api/lambda/functions  (login {stack.username} / {stack.password})",
        f"requests queue: {'RQ on ' + stack.redis_url if stack.redis_url else 'in-process'}; data in {stack.data_dir}",
    ]
    ready = [m for m in stack.registry.functions.values() if m.state().get("state") == "ready"]
    detector = next((m for m in ready if m.spec.annotations.get("type") == "detector"), None)
    if ready:
        first = detector or ready[0]
        port = first.state().get("httpPort")
        cli = shlex.quote(str(Path(sys.executable).with_name("cvat-serverless")))
        lines.append("try (put your own photo.jpg / photos/ in place):")
        if detector is not None:
            lines.append(
                f"  {cli} invoke {shlex.quote(str(first.spec.function_dir))} --url http://{stack.host}:{port} "
                "--image photo.jpg"
            )
            lines.append(f"  {cli} annotate photos/ --function {first.spec.name} --gateway {gateway} --coco out.json")
    lines.append("point a CVAT server at the dashboard with CVAT_NUCLIO_HOST / CVAT_NUCLIO_PORT (docs/local-stack.md)")
    return "\n".join(lines)


def _settled(name: str, error: str | None) -> None:
    if error is None:
        print(f"ready    {name}", flush=True)
    else:
        print(
            f"failed   {name}: {error.strip().splitlines()[0] if error.strip() else 'init_context failed'}", flush=True
        )


def _quiet(verbose: bool) -> None:
    """The terminal: one line per function and what to try; ``--verbose`` keeps every log line."""
    from cvat_serverless.observability import LOG_LEVEL_ENV, configure_logging

    if verbose:
        configure_logging(logging.INFO)
        return
    os.environ.setdefault(LOG_LEVEL_ENV, "WARNING")  # the processors this starts inherit it
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning,ignore::UserWarning,ignore::FutureWarning")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    configure_logging(logging.WARNING)


def run(args: argparse.Namespace) -> int:
    """Start the stack, print how to call it, serve until SIGINT/SIGTERM."""
    from cvat_serverless.dashboard import discover_functions
    from cvat_serverless.stack import LocalStack

    _quiet(args.verbose)
    folders = [Path(d) for d in args.function_dirs] or discover_functions(SERVERLESS_ROOT, only_offline=True)
    stack = LocalStack(
        folders=folders,
        data_dir=Path(args.data_dir),
        env=parse_env(args.env),
        host=args.host,
        dashboard_port=args.dashboard_port,
        gateway_port=args.gateway_port,
        token=args.token,
        username=os.environ.get("CVAT_USER", "admin"),
        password=os.environ.get("CVAT_PASSWORD", "admin"),
        share_dir=Path(args.share_dir) if args.share_dir else None,
        redis_url=args.redis_url,
        rq_workers=args.rq_workers,
    )
    stopped = threading.Event()
    for handled in (signal.SIGINT, signal.SIGTERM):
        signal.signal(handled, lambda *_: stopped.set())
    print(f"starting {len(folders)} function(s)...", flush=True)
    try:
        stack.start(args.ready_timeout, on_settled=_settled)
        print(_usage(stack), flush=True)
        stopped.wait()
    finally:
        stack.stop()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``platform`` command."""
    parser = subparsers.add_parser(
        "platform", help="serve function folders behind a local Nuclio dashboard and CVAT's lambda API"
    )
    parser.add_argument("function_dirs", nargs="*", help="function folders (default: every offline-capable one)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--dashboard-port", type=int, default=8070)
    parser.add_argument("--gateway-port", type=int, default=8080)
    parser.add_argument("--token", default=None, help="require 'Authorization: Bearer TOKEN' on the dashboard")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR), help="SQLite database and task frames")
    parser.add_argument("--share-dir", default=None, help="server-side share folder for tasks' server_files")
    parser.add_argument("--redis-url", default=os.environ.get("CVAT_REDIS_URL"), help="run requests on RQ/Redis")
    parser.add_argument("--rq-workers", type=int, default=1, help="RQ workers to start with --redis-url")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra function env")
    parser.add_argument("--ready-timeout", type=float, default=600)
    parser.add_argument("--verbose", action="store_true", help="every log line (requests, workers, libraries)")
    parser.set_defaults(run=run)
