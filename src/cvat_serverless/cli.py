"""The ``cvat-serverless`` command line: a thin dispatcher over ``commands.*`` modules.

Each command module defines ``register(subparsers)``, which adds its parser and sets
``run=<callable(args) -> int>`` as a default.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    # One line per command module; keep sorted.
    "annotate",
    "catalog",
    "invoke",
    "lint",
    "new",
    "platform",
    "serve",
    "track",
    "users",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered sub-command."""
    parser = argparse.ArgumentParser(prog="cvat-serverless", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"cvat_serverless.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cvat-serverless`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
