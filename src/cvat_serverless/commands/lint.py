"""``cvat-serverless lint [PATH ...]``: check function.yaml files; exit 1 on errors."""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    """Print ``file: problem`` lines; return 1 when any is an error."""
    from cvat_serverless.lint import lint_paths

    problems = lint_paths([Path(p) for p in args.paths or ["serverless"]])
    for problem in problems:
        print(problem)
    errors = sum(problem.error for problem in problems)
    print(f"{errors} error(s), {len(problems) - errors} warning(s)")
    return 1 if errors else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``lint`` command."""
    parser = subparsers.add_parser("lint", help="check function.yaml / function-gpu.yaml files")
    parser.add_argument("paths", nargs="*", help="files or folders (default: serverless/)")
    parser.set_defaults(run=run)
