"""``cvat-serverless new <framework>/<org>/<model> --kind KIND``: scaffold a function folder."""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def run(args: argparse.Namespace) -> int:
    """Generate the folder and say what to do next."""
    from cvat_serverless.scaffold import generate

    try:
        folder = generate(args.target, args.kind, Path(args.root))
    except (ValueError, FileExistsError) as error:
        raise SystemExit(f"error: {error}") from None
    print(
        f"created {folder}\nnext: fill in the FILL IN places, then run\n"
        f"  .venv/bin/cvat-serverless lint {folder}\n"
        f"  CVAT_HARNESS_FUNCTIONS={args.target.split('/')[-1]} .venv/bin/pytest tests/test_functions.py"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``new`` command."""
    parser = subparsers.add_parser("new", help="scaffold a function folder (passes lint and the harness)")
    parser.add_argument("target", metavar="FRAMEWORK/ORG/MODEL")
    parser.add_argument("--kind", required=True, choices=("detector", "interactor", "tracker", "reid"))
    parser.add_argument("--root", default=str(REPO / "serverless"))
    parser.set_defaults(run=run)
