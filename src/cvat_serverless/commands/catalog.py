"""``cvat-serverless catalog [--check]``: write (or verify) docs/functions.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def run(args: argparse.Namespace) -> int:
    """Write the catalog, or with --check exit 1 when the file on disk differs."""
    from cvat_serverless.catalog import catalog_markdown

    text = catalog_markdown(REPO / "serverless")
    target = REPO / "docs" / "functions.md"
    if args.check:
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            print(f"{target} is stale: run `cvat-serverless catalog`", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``catalog`` command."""
    parser = subparsers.add_parser("catalog", help="generate docs/functions.md from the yaml files")
    parser.add_argument("--check", action="store_true", help="fail when docs/functions.md is stale")
    parser.set_defaults(run=run)
