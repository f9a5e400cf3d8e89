"""``cvat-serverless invoke DIR --image FILE``: call a function in-process (or over HTTP) and print its answer."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path


def _call(args: argparse.Namespace, body: dict) -> tuple[int, bytes]:
    raw = json.dumps(body).encode()
    if args.url:
        import httpx

        response = httpx.post(args.url, content=raw, headers={"Content-Type": "application/json"}, timeout=args.timeout)
        return response.status_code, response.content
    from cvat_serverless.runtime import LoadedFunction

    function = LoadedFunction.load(args.function_dir, yaml_name=args.yaml)
    try:
        response = function.invoke(raw)
    finally:
        function.close()
    return response.status_code, response.body


def run(args: argparse.Namespace) -> int:
    """Print the JSON answer on stdout; exit 1 (error JSON on stderr) for a 4xx/5xx."""
    try:
        body = json.loads(args.body) if args.body else {}
    except json.JSONDecodeError as error:
        raise SystemExit(f"--body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise SystemExit("--body must be a JSON object")
    if args.image:
        body[args.image_field] = base64.b64encode(Path(args.image).read_bytes()).decode("ascii")
    status, raw = _call(args, body)
    text = raw.decode("utf-8", errors="replace")
    if status >= 400:
        print(text, file=sys.stderr)
        return 1
    print(text)
    if args.render:
        from PIL import Image

        from cvat_serverless.render import render

        if not args.image:
            raise SystemExit("--render needs --image")
        render(Image.open(args.image), json.loads(raw)).save(args.render)
        print(f"rendered to {args.render}", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``invoke`` command."""
    parser = subparsers.add_parser("invoke", help="call a function with an image and print its JSON answer")
    parser.add_argument("function_dir", help="function folder (used in-process unless --url is given)")
    parser.add_argument("--image", help="image file; its base64 goes into the body's image field")
    parser.add_argument("--image-field", default="image", help="body field for the image (default: image)")
    parser.add_argument("--body", help="JSON object with the other request fields")
    parser.add_argument("--url", help="call a running processor at this URL instead of loading the folder")
    parser.add_argument("--yaml", default="function.yaml")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--render", metavar="OUT.png", help="draw the answer over the image")
    parser.set_defaults(run=run)
