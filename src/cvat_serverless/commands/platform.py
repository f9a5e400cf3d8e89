"""``cvat-serverless platform``: processors for function folders behind a Nuclio-compatible dashboard."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from cvat_serverless.commands.serve import parse_env

SERVERLESS_ROOT = Path(__file__).resolve().parents[3] / "serverless"


def _usage(registry: object, host: str, port: int) -> str:
    from cvat_serverless.dashboard import FunctionRegistry

    assert isinstance(registry, FunctionRegistry)
    lines = [f"Nuclio-compatible dashboard: http://{host}:{port}/api/functions", "functions:"]
    for name, managed in registry.functions.items():
        state = managed.state()
        lines.append(
            f"  {name:40s} {state['state']:8s} http://{host}:{state.get('httpPort')}  {managed.spec.function_dir}"
        )
    first = next(iter(registry.functions.values()), None)
    if first is not None:
        lines += [
            "try:",
            f"  curl -s http://{host}:{port}/api/function_invocations -H 'x-nuclio-function-name: {first.spec.name}' "
            f'-H \'Content-Type: application/json\' -d "{{\\"image\\": \\"$(base64 -w0 photo.jpg)\\"}}"',
            f"  .venv/bin/cvat-serverless invoke {first.spec.function_dir} --image photo.jpg --render out.png",
            "point a CVAT server at it with CVAT_NUCLIO_HOST / CVAT_NUCLIO_PORT (see docs/local-stack.md)",
        ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Start processors, wait until they are ready, print how to call them, serve until SIGINT/SIGTERM."""
    import uvicorn

    from cvat_serverless.dashboard import FunctionRegistry, build_dashboard, discover_functions

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    folders = [Path(d) for d in args.function_dirs] or discover_functions(SERVERLESS_ROOT, only_offline=True)
    registry = FunctionRegistry(folders=folders, env=parse_env(args.env))
    for handled in (signal.SIGINT, signal.SIGTERM):
        signal.signal(handled, lambda *_: sys.exit(0))
    try:
        registry.start()
        failures = registry.wait_ready(args.ready_timeout)
        for name, message in failures.items():
            print(f"warning: {name} is not serving: {message}", file=sys.stderr)
        print(_usage(registry, args.host, args.dashboard_port), flush=True)
        uvicorn.run(
            build_dashboard(registry, token=args.token), host=args.host, port=args.dashboard_port, log_level="warning"
        )
    finally:
        registry.stop()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``platform`` command."""
    parser = subparsers.add_parser("platform", help="serve function folders behind a local Nuclio dashboard API")
    parser.add_argument("function_dirs", nargs="*", help="function folders (default: every offline-capable one)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--dashboard-port", type=int, default=8070)
    parser.add_argument("--token", default=None, help="require 'Authorization: Bearer TOKEN' on the dashboard")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra function env")
    parser.add_argument("--ready-timeout", type=float, default=600)
    parser.set_defaults(run=run)
