"""``cvat-serverless new <framework>/<org>/<model> --kind KIND | --from-yolo best.onnx``: scaffold a function folder."""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SERVERLESS = REPO / "serverless"


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (the printed commands run from its root)."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _test_command(folder: Path, target: str) -> str:
    """How to run the folder's harness: tests/test_functions.py finds folders under serverless/ only."""
    if folder.resolve().is_relative_to(SERVERLESS):
        return f"CVAT_HARNESS_FUNCTIONS={target.strip('/')} .venv/bin/pytest tests/test_functions.py"
    return f".venv/bin/cvat-serverless invoke {_shown(folder)} --image photo.jpg"


def _from_yolo(args: argparse.Namespace) -> int:
    from cvat_serverless.scaffold.yolo import SHOWN, generate_from_yolo

    folder, export, end2end = generate_from_yolo(args.target, Path(args.from_yolo), Path(args.root))
    head = "end-to-end (NMS-free)" if end2end else "classic (NMS in the handler)"
    names = ", ".join(export.names.values())
    print(
        f"created {folder}\n"
        f"an ultralytics YOLO {export.task} export, {head} head: answers {SHOWN[export.task]}; "
        f"{len(export.names)} labels: {names[:200]}{'...' if len(names) > 200 else ''}\n"
        f"next: check it, then deploy it (deploy_gpu.sh for a GPU)\n"
        f"  .venv/bin/cvat-serverless lint {_shown(folder.parent)}\n"
        f"  {_test_command(folder, args.target)}\n"
        f"  serverless/deploy_cpu.sh {_shown(folder.parent)}"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    """Generate the folder and say what to do next."""
    from cvat_serverless.scaffold import generate

    if (args.kind is None) == (args.from_yolo is None):
        raise SystemExit("error: give exactly one of --kind and --from-yolo")
    try:
        if args.from_yolo is not None:
            return _from_yolo(args)
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
    parser.add_argument("--kind", choices=("detector", "interactor", "tracker", "reid"))
    parser.add_argument(
        "--from-yolo",
        metavar="EXPORT.onnx",
        help="an ultralytics ONNX export (detect, segment, pose or obb): labels, shapes and model come from it",
    )
    parser.add_argument("--root", default=str(SERVERLESS))
    parser.set_defaults(run=run)
