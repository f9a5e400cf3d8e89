"""``cvat-serverless annotate``: pre-annotate a folder of images or a video with a detector through the gateway."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg"}


def collect_frames(source: Path, workdir: Path, frame_step: int = 1) -> list[Path]:
    """The images of a folder (natural order), or every ``frame_step``-th frame of a video as PNG files."""
    from cvat_serverless.gateway.store import natural_key

    if source.is_dir():
        images = [p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        return sorted(images, key=lambda p: natural_key(p.name))
    if source.suffix.lower() in IMAGE_SUFFIXES:
        return [source]
    if source.suffix.lower() not in VIDEO_SUFFIXES:
        raise SystemExit(f"{source}: not a folder, an image or a video ({', '.join(sorted(VIDEO_SUFFIXES))})")
    import cv2

    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise SystemExit(f"{source}: OpenCV cannot read this video")
    frames, index = [], 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % frame_step == 0:
                path = workdir / f"frame_{index:06d}.png"
                cv2.imwrite(str(path), frame)
                frames.append(path)
            index += 1
    finally:
        capture.release()
    return frames


def task_labels_from_function(labels_v2: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Task labels equal to a function's ``labels_v2`` (so CVAT's default mapping takes every label)."""
    result = []
    for label in labels_v2:
        item = {
            "name": label["name"],
            "type": label.get("type", "any"),
            "attributes": [{**attribute, "mutable": False} for attribute in label.get("attributes") or []],
        }
        if label.get("sublabels"):
            item["sublabels"] = task_labels_from_function(label["sublabels"])
            item["svg"] = label.get("svg", "")
        result.append(item)
    return result


def _wait(client: Any, rq_id: str, bar: Any) -> Any:
    while True:
        call, _ = client.api_client.lambda_api.retrieve_requests(rq_id)
        bar.n = call.progress or 0
        bar.refresh()
        if call.status in ("finished", "failed"):
            return call
        time.sleep(0.5)


def _cancel(client: Any, task: Any, rq_id: str) -> None:
    version = task.get_annotations().version
    client.api_client.lambda_api.delete_requests(rq_id)
    deadline = time.monotonic() + 120
    while task.get_annotations().version == version and time.monotonic() < deadline:
        time.sleep(0.3)


def write_outputs(args: argparse.Namespace, task: Any, frames: list[Path]) -> int:
    from PIL import Image

    from cvat_serverless.exports import FrameInfo, LabelNames, flatten_tracks, to_coco, to_cvat_xml
    from cvat_serverless.render import render

    annotations = flatten_tracks(task.get_annotations().to_dict())
    labels = [label.to_dict() for label in task.get_labels()]
    meta = task.get_meta()
    infos = [FrameInfo(i, f.name, f.width, f.height) for i, f in enumerate(meta.frames)]
    if args.coco:
        Path(args.coco).write_text(json.dumps(to_coco(labels, infos, annotations), indent=1))
    if args.cvat_xml:
        Path(args.cvat_xml).write_text(to_cvat_xml(task.name, labels, infos, annotations))
    if args.overlays:
        folder = Path(args.overlays)
        folder.mkdir(parents=True, exist_ok=True)
        names = LabelNames(labels)
        by_name = {p.name: p for p in frames}
        for info in infos:
            shapes = [s for s in annotations["shapes"] if s["frame"] == info.index]
            items = [names.function_item(s, (info.height, info.width)) for s in shapes]
            image = Image.open(by_name[info.name]).convert("RGB")
            render(image, items).save(folder / (Path(info.name).stem + ".png"))
    return len(annotations["shapes"]) + len(annotations["tags"])


def run(args: argparse.Namespace) -> int:
    """Create a task from the frames, run a whole-task request, export what it found (also after Ctrl-C)."""
    from cvat_sdk import make_client
    from cvat_sdk.api_client import models
    from tqdm import tqdm

    if not (args.coco or args.cvat_xml or args.overlays):
        raise SystemExit("choose at least one output: --coco, --cvat-xml or --overlays")
    workdir = Path(tempfile.mkdtemp(prefix="cvat-annotate-"))
    frames = collect_frames(Path(args.input), workdir, args.frame_step)
    if not frames:
        raise SystemExit(f"{args.input}: no images found")
    stack = None
    gateway, function_id = args.gateway, args.function
    if args.function_dir:
        from cvat_serverless.commands.serve import parse_env
        from cvat_serverless.runtime import read_function_spec
        from cvat_serverless.stack import LocalStack

        stack = LocalStack(folders=[Path(args.function_dir)], data_dir=workdir / "data", env=parse_env(args.env))
        failures = stack.start()
        if failures:
            stack.stop()
            raise SystemExit(f"the function did not start: {failures}")
        gateway, function_id = stack.gateway_url, read_function_spec(args.function_dir).name
    if not function_id:
        raise SystemExit("--function ID (with --gateway) or --function-dir DIR is required")
    try:
        user = os.environ.get("CVAT_USER", args.user)
        password = os.environ.get("CVAT_PASSWORD", args.password)
        with make_client(gateway, credentials=(user, password)) as client:
            function = client.api_client.lambda_api.retrieve_functions(function_id)[0]
            if function["kind"] != "detector":
                raise SystemExit(f"{function_id} is a {function['kind']}; annotate needs a detector")
            spec = {
                "name": f"annotate {Path(args.input).name}",
                "labels": task_labels_from_function(function["labels_v2"]),
            }
            task = client.tasks.create_from_data(
                spec=spec, resources=[str(f) for f in frames], data_params={"sorting_method": "predefined"}
            )
            params: dict[str, Any] = {"function": function_id, "task": task.id, "cleanup": True}
            if args.threshold is not None:
                params["threshold"] = args.threshold
            if args.conv_mask_to_poly:
                params["conv_mask_to_poly"] = True
            call, _ = client.api_client.lambda_api.create_requests(models.FunctionCallRequest(**params))
            with tqdm(total=100, desc=f"{function_id} on {len(frames)} frames", unit="%") as bar:
                try:
                    done = _wait(client, call.id, bar)
                    if done.status == "failed":
                        print(f"the request failed:\n{done.exc_info}", file=sys.stderr)
                        return 1
                except KeyboardInterrupt:
                    print("\ncancelling; keeping what is annotated so far", file=sys.stderr)
                    _cancel(client, task, call.id)
            count = write_outputs(args, task, frames)
            print(f"{count} annotations on {len(frames)} frames (task {task.id} at {gateway})")
            if not args.keep_task:
                task.remove()
    finally:
        if stack is not None:
            stack.stop()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``annotate`` command."""
    parser = subparsers.add_parser("annotate", help="pre-annotate images or a video with a detector via the gateway")
    parser.add_argument("input", help="a folder of images, one image, or a video file")
    parser.add_argument("--function", help="function id on the gateway (see /api/lambda/functions)")
    parser.add_argument("--gateway", default="http://127.0.0.1:8080", help="lambda gateway (cvat-serverless platform)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="function env (--function-dir)")
    parser.add_argument("--function-dir", help="run this function folder on a private local stack instead")
    parser.add_argument("--user", default="admin", help="gateway account (or CVAT_USER)")
    parser.add_argument("--password", default="admin", help="gateway password (or CVAT_PASSWORD)")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--conv-mask-to-poly", action="store_true", help="store masks as polygons")
    parser.add_argument("--frame-step", type=int, default=1, help="for videos: every N-th frame")
    parser.add_argument("--coco", help="write COCO JSON here (masks as COCO RLE)")
    parser.add_argument("--cvat-xml", help="write CVAT for images 1.1 XML here")
    parser.add_argument("--overlays", help="write one overlay PNG per frame into this folder")
    parser.add_argument("--keep-task", action="store_true", help="keep the task on the gateway afterwards")
    parser.set_defaults(run=run)
