"""Render the templates of :mod:`cvat_serverless.scaffold.templates` into a new function folder."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from cvat_serverless.scaffold import templates

KINDS = ("detector", "interactor", "tracker", "reid")
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def function_id(framework: str, org: str, model: str) -> str:
    """A DNS-safe id like upstream's: ``<framework>-<org>-<model>`` lower-cased, '_' and '.' → '-'."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{framework}-{org}-{model}".lower()).strip("-")[:63].strip("-")


def target_folder(target: str, root: Path) -> tuple[list[str], Path]:
    """Split ``<framework>/<org>/<model>`` and return its parts and its new ``nuclio`` folder (not created)."""
    parts = target.strip("/").split("/")
    if len(parts) != 3 or not all(_SEGMENT.match(part) for part in parts):
        raise ValueError(f"expected <framework>/<org>/<model>, got {target!r}")
    folder = root.joinpath(*parts, "nuclio")
    if folder.exists():
        raise FileExistsError(f"{folder} already exists")
    return parts, folder


def generate(target: str, kind: str, root: Path) -> Path:
    """Create ``root/<framework>/<org>/<model>/nuclio`` for ``kind``; refuses to overwrite a folder."""
    if kind not in KINDS:
        raise ValueError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    parts, folder = target_folder(target, root)
    folder.mkdir(parents=True)
    values = {
        "name": function_id(*parts),
        "title": parts[2],
        "kind": kind,
        "framework": parts[0],
        "image": "cvat." + ".".join(parts).lower(),
        "extra_annotations": templates.EXTRA_ANNOTATIONS[kind],
        "spec": templates.SPECS[kind],
    }
    cpu = Template(templates.FUNCTION_YAML).substitute(values, workers=2, image_tag="", resources="")
    gpu = Template(templates.FUNCTION_YAML).substitute(
        values, workers=1, image_tag=":latest-gpu", resources=templates.GPU_RESOURCES
    )
    files = {
        "function.yaml": cpu,
        "function-gpu.yaml": gpu,
        "main.py": Template(templates.MAIN_PY).substitute(kind=kind),
        "model_handler.py": templates.MODEL_HANDLERS[kind],
        "cases.py": templates.CASES[kind],
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder
