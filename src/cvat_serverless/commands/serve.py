"""``cvat-serverless serve DIR --port N``: run one function folder like Nuclio's processor."""

from __future__ import annotations

import argparse


def parse_env(items: list[str]) -> dict[str, str]:
    """``["K=V", ...]`` → dict; raises ``SystemExit`` on an item without ``=``."""
    env = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env expects KEY=VALUE, got {item!r}")
        env[key] = value
    return env


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM."""
    from cvat_serverless.processor.server import serve

    serve(
        args.function_dir,
        host=args.host,
        port=args.port,
        yaml_name=args.yaml,
        env=parse_env(args.env),
        num_workers=args.workers,
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` command."""
    parser = subparsers.add_parser("serve", help="run one function folder over HTTP, as Nuclio does")
    parser.add_argument("function_dir")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--yaml", default="function.yaml", help="function.yaml or function-gpu.yaml")
    parser.add_argument("--workers", type=int, default=None, help="override numWorkers")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.set_defaults(run=run)
