"""``cvat-serverless platform``: function processors, a Nuclio-compatible dashboard and CVAT's lambda API."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from cvat_serverless.commands.serve import parse_env

SERVERLESS_ROOT = Path(__file__).resolve().parents[3] / "serverless"
DEFAULT_DATA_DIR = Path(os.environ.get("CVAT_SERVERLESS_DATA", Path.home() / ".local/share/cvat-serverless"))


def _usage(stack: object) -> str:
    from cvat_serverless.stack import LocalStack

    assert isinstance(stack, LocalStack) and stack.registry is not None
    host, dashboard, gateway = stack.host, stack.dashboard_url, stack.gateway_url
    lines = [
        f"Nuclio-compatible dashboard: {dashboard}/api/functions",
        f"CVAT lambda API + task API:   {gateway}/api/lambda/functions  (login {stack.username} / {stack.password})",
        f"requests queue: {'RQ on ' + stack.redis_url if stack.redis_url else 'in-process'}; data in {stack.data_dir}",
        "functions:",
    ]
    for name, managed in stack.registry.functions.items():
        state = managed.state()
        lines.append(
            f"  {name:40s} {state['state']:8s} http://{host}:{state.get('httpPort')}  {managed.spec.function_dir}"
        )
    first = next(iter(stack.registry.functions.values()), None)
    if first is not None:
        lines += [
            "try:",
            f"  curl -s {dashboard}/api/function_invocations -H 'x-nuclio-function-name: {first.spec.name}' "
            f'-H \'Content-Type: application/json\' -d "{{\\"image\\": \\"$(base64 -w0 photo.jpg)\\"}}"',
            f"  .venv/bin/cvat-serverless annotate photos/ --function {first.spec.name} --gateway {gateway} "
            "--coco out.json",
            "point a CVAT server at the dashboard with CVAT_NUCLIO_HOST / CVAT_NUCLIO_PORT (see docs/local-stack.md)",
        ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Start the stack, print how to call it, serve until SIGINT/SIGTERM."""
    from cvat_serverless.dashboard import discover_functions
    from cvat_serverless.stack import LocalStack

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
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
    try:
        failures = stack.start(args.ready_timeout)
        for name, message in failures.items():
            print(f"warning: {name} is not serving: {message}", file=sys.stderr)
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
    parser.set_defaults(run=run)
