"""``cvat-serverless track``: follow shapes from one frame to another with a tracker, through the gateway."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from cvat_serverless.commands.annotate import _cancel, _wait, collect_frames, write_outputs


def parse_shape(text: str) -> dict[str, Any]:
    """``polygon:x0,y0,x1,y1,...``, ``rectangle:x0,y0,x1,y1`` or ``mask:PNG`` (non-zero pixels of a PNG)."""
    kind, _, value = text.partition(":")
    if kind == "mask":
        import numpy as np
        from PIL import Image

        from common.masks import bitmap_to_rle

        rle = bitmap_to_rle(np.asarray(Image.open(value).convert("L")) > 0)
        if rle is None:
            raise SystemExit(f"{value}: the mask is empty")
        return {"type": "mask", "points": [float(v) for v in rle]}
    try:
        points = [float(v) for v in value.split(",")]
    except ValueError:
        raise SystemExit(f"--shape {text!r}: expected numbers separated by commas") from None
    if kind not in ("polygon", "rectangle") or len(points) < 4 or len(points) % 2:
        raise SystemExit(f"--shape {text!r}: use polygon:x,y,... rectangle:x0,y0,x1,y1 or mask:file.png")
    return {"type": kind, "points": points}


def run(args: argparse.Namespace) -> int:
    """Create a task from the frames, put the shapes on --from, track them to --to, export the result."""
    import httpx
    from cvat_sdk import make_client
    from cvat_sdk.api_client import models
    from tqdm import tqdm

    if not (args.coco or args.cvat_xml or args.overlays):
        raise SystemExit("choose at least one output: --coco, --cvat-xml or --overlays")
    shapes = [parse_shape(text) for text in args.shape]
    workdir = Path(tempfile.mkdtemp(prefix="cvat-track-"))
    frames = collect_frames(Path(args.input), workdir, args.frame_step)
    target = len(frames) - 1 if args.to is None else args.to
    stack = None
    gateway, function_id = args.gateway, args.function
    if args.function_dir:
        from cvat_serverless.commands.serve import parse_env
        from cvat_serverless.runtime import read_function_spec
        from cvat_serverless.stack import LocalStack

        stack = LocalStack(
            folders=[Path(args.function_dir)], data_dir=workdir / "data", env=parse_env(args.env), num_workers=1
        )
        failures = stack.start()
        if failures:
            stack.stop()
            raise SystemExit(f"the function did not start: {failures}")
        gateway, function_id = stack.gateway_url, read_function_spec(args.function_dir).name
    if not function_id:
        raise SystemExit("--function ID (with --gateway) or --function-dir DIR is required")
    user, password = os.environ.get("CVAT_USER", args.user), os.environ.get("CVAT_PASSWORD", args.password)
    try:
        with make_client(gateway, credentials=(user, password)) as client:
            task = client.tasks.create_from_data(
                spec={"name": f"track {Path(args.input).name}", "labels": [{"name": args.label}]},
                resources=[str(f) for f in frames],
                data_params={"sorting_method": "predefined"},
            )
            label = task.get_labels()[0].id
            requested = [
                models.LabeledShapeRequest(type=s["type"], frame=args.start, label_id=label, points=s["points"])
                for s in shapes
            ]
            task.set_annotations(models.LabeledDataRequest(shapes=requested))
            body = {
                "function": function_id,
                "task": task.id,
                "frame": args.start,
                "target_frame": target,
                "convert_polygons_to_tracks": args.polygons_to_tracks,
            }
            answer = httpx.post(f"{gateway}/api/lambda/tracking", json=body, auth=(user, password), timeout=60)
            if answer.status_code != 200:
                raise SystemExit(f"tracking was refused ({answer.status_code}): {answer.text}")
            rq_id = answer.json()["id"]
            with tqdm(total=100, desc=f"{function_id}: frames {args.start}→{target}", unit="%") as bar:
                try:
                    done = _wait(client, rq_id, bar)
                    if done.status == "failed":
                        print(f"tracking failed:\n{done.exc_info}", file=sys.stderr)
                        return 1
                except KeyboardInterrupt:
                    print("\ncancelling; keeping the frames tracked so far", file=sys.stderr)
                    _cancel(client, task, rq_id)
            count = write_outputs(args, task, frames)
            print(f"{count} annotations on {len(frames)} frames (task {task.id} at {gateway})")
            if not args.keep_task:
                task.remove()
    finally:
        if stack is not None:
            stack.stop()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``track`` command."""
    parser = subparsers.add_parser("track", help="track shapes over a folder of frames or a video with a tracker")
    parser.add_argument("input", help="a folder of frames or a video file")
    parser.add_argument("--shape", action="append", required=True, help="polygon:x,y,... rectangle:... or mask:PNG")
    parser.add_argument("--from", dest="start", type=int, default=0, help="frame the shapes are on (default 0)")
    parser.add_argument("--to", type=int, default=None, help="last frame to track to (default: the last)")
    parser.add_argument("--label", default="object", help="label of the tracked shapes")
    parser.add_argument("--polygons-to-tracks", action="store_true", help="save polygons as tracks")
    parser.add_argument("--function", help="tracker id on the gateway")
    parser.add_argument("--gateway", default="http://127.0.0.1:8080")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="function env (--function-dir)")
    parser.add_argument("--function-dir", help="run this tracker folder on a private local stack instead")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--frame-step", type=int, default=1, help="for videos: every N-th frame")
    parser.add_argument("--coco", help="write COCO JSON here")
    parser.add_argument("--cvat-xml", help="write CVAT for images 1.1 XML here")
    parser.add_argument("--overlays", help="write overlay PNGs into this folder")
    parser.add_argument("--keep-task", action="store_true")
    parser.set_defaults(run=run)
