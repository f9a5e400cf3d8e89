"""``cvat-serverless lint``: catch function.yaml mistakes that make CVAT hide a function or Nuclio fail.

Label-spec rules come from the library (:func:`common.labels.parse_spec`, CVAT's own rules), so
lint and ``init_context`` never disagree.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from common.errors import InvalidFunctionConfig
from common.labels import FUNCTION_KINDS, SHAPE_TYPES_FOR_TRACKERS, parse_spec
from cvat_serverless.pins import REPO_LOCKS, Pin, StepChecker, folder_locks, read_lock, runtime_pins, unpinned_fetches
from cvat_serverless.runtime.spec import FunctionSpecError, parse_duration

YAML_NAMES = ("function.yaml", "function-gpu.yaml")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
FALSE_WORDS = {"false", "no", "0", "off"}
MIN_BODY, MAX_BODY = 1024 * 1024, 1024 * 1024 * 1024
MAX_EVENT_TIMEOUT_S = 600


@dataclass(frozen=True)
class Problem:
    """One finding: ``path: message``; errors fail the lint, warnings do not."""

    path: Path
    message: str
    error: bool = True

    def __str__(self) -> str:
        return f"{self.path}: {'' if self.error else 'warning: '}{self.message}"


def _http_trigger(spec: dict[str, Any]) -> dict[str, Any]:
    for trigger in (spec.get("triggers") or {}).values():
        if isinstance(trigger, dict) and trigger.get("kind") == "http":
            return trigger
    return {}


def _handler_problems(path: Path, spec: dict[str, Any]) -> Iterator[str]:
    handler = str(spec.get("handler", ""))
    module, _, function = handler.partition(":")
    source = path.parent / (module.replace(".", "/") + ".py")
    if not function or not source.is_file():
        yield f"spec.handler {handler!r} does not resolve to a file next to the yaml"
        return
    names = {node.name for node in ast.parse(source.read_text()).body if isinstance(node, ast.FunctionDef)}
    for required in (function, "init_context"):
        if required not in names:
            yield f"{source.name} does not define {required}()"


def _annotation_problems(annotations: dict[str, Any]) -> Iterator[str]:
    for key, value in annotations.items():
        if not isinstance(value, str):
            yield f"annotation {key!r} must be a string (Nuclio annotations are map[string]string), got {value!r}"
    kind = str(annotations.get("type", ""))
    if kind not in FUNCTION_KINDS:
        yield f"annotation 'type' must be one of {sorted(FUNCTION_KINDS)}, got {kind!r}"
    try:
        parse_spec(annotations.get("spec"))
    except InvalidFunctionConfig as error:
        yield f"annotation 'spec': {error.message}"
    for key in ("startswith_box", "startswith_box_optional"):
        if str(annotations.get(key, "x")).strip().lower() in FALSE_WORDS | {""}:
            yield f"annotation {key!r} is {annotations[key]!r}: CVAT reads any non-empty string as true; omit the key"
    if kind == "interactor":
        version = str(annotations.get("version", "1"))
        if not version.isdigit() or int(version) < 2:
            yield f"interactors must declare annotation 'version' >= 2 (CVAT's UI warns below 2), got {version!r}"
    if kind == "tracker" and annotations.get("supported_shape_types"):
        for shape_type in str(annotations["supported_shape_types"]).split(","):
            if shape_type.strip() not in SHAPE_TYPES_FOR_TRACKERS:
                yield f"annotation 'supported_shape_types' has unknown type {shape_type.strip()!r}"


def _spec_problems(spec: dict[str, Any], gpu: bool) -> Iterator[tuple[str, bool]]:
    if not spec.get("description"):
        yield "spec.description is required (CVAT answers 500 without it)", True
    runtime = str(spec.get("runtime", ""))
    match = re.fullmatch(r"python:3\.(\d+)", runtime)
    if not match or int(match.group(1)) < 9:
        yield f"spec.runtime must be python:3.9 or newer, got {runtime!r}", True
    try:
        timeout = parse_duration(str(spec["eventTimeout"]))
        if timeout > MAX_EVENT_TIMEOUT_S:
            yield f"spec.eventTimeout {spec['eventTimeout']} is over {MAX_EVENT_TIMEOUT_S // 60} minutes", True
    except KeyError:
        yield "spec.eventTimeout is not set", True
    except FunctionSpecError:
        yield f"spec.eventTimeout {spec['eventTimeout']!r} is not a duration like '30s'", True
    trigger = _http_trigger(spec)
    if not trigger:
        yield "no http trigger in spec.triggers", True
    if "maxWorkers" in trigger:
        yield "trigger uses deprecated maxWorkers; use numWorkers", False
    workers = trigger.get("numWorkers", trigger.get("maxWorkers"))
    if not isinstance(workers, int) or workers < 1:
        yield f"trigger numWorkers must be a positive integer, got {workers!r}", True
    size = (trigger.get("attributes") or {}).get("maxRequestBodySize")
    if not isinstance(size, int) or not MIN_BODY <= size <= MAX_BODY:
        yield f"maxRequestBodySize must be set between 1 MiB and 1 GiB, got {size!r}", True
    if gpu:
        limits = (spec.get("resources") or {}).get("limits") or {}
        if "nvidia.com/gpu" not in limits:
            yield "GPU yaml lacks spec.resources.limits nvidia.com/gpu", True
        if workers != 1:
            yield f"GPU yaml should run 1 worker (each worker loads the model on the GPU), got {workers!r}", True


def _build_problems(spec: dict[str, Any], checker: StepChecker) -> Iterator[tuple[str, bool]]:
    directives = (spec.get("build") or {}).get("directives") or {}
    values = [str(d.get("value", "")) for stage in directives.values() for d in stage or [] if isinstance(d, dict)]
    checker = checker.with_locks_of(values)
    for stage in ("preCopy", "postCopy"):
        for directive in directives.get(stage) or []:
            if not isinstance(directive, dict) or directive.get("kind") != "RUN":
                continue
            value = str(directive.get("value", ""))
            yield from ((message, True) for message in checker.problems(stage, value))
            yield from ((message, False) for message in unpinned_fetches(value))


def _find_locks(path: Path) -> Path:
    """serverless/requirements of the tree a yaml lives in (next to common/), else the repository's."""
    for parent in path.resolve().parents:
        if (parent / "requirements").is_dir() and (parent / "common").is_dir():
            return parent / "requirements"
    return REPO_LOCKS


def _folder_pins(folder: Path, pins: dict[str, Pin]) -> tuple[dict[str, Pin], list[Problem]]:
    merged, problems = dict(pins), []
    for lock in folder_locks(folder):
        own, lock_problems = read_lock(lock)
        merged.update(own)
        problems += [Problem(source, message) for source, message in lock_problems]
    return merged, problems


def lint_file(path: Path, checker: StepChecker | None = None) -> list[Problem]:
    """Every problem of one function.yaml / function-gpu.yaml."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        return [Problem(path, f"cannot parse: {error}")]
    if not isinstance(document, dict) or not isinstance(document.get("metadata"), dict):
        return [Problem(path, "no metadata section")]
    metadata, spec = document["metadata"], document.get("spec") or {}
    problems = []
    name = str(metadata.get("name", ""))
    if not DNS_LABEL.match(name):
        problems.append(Problem(path, f"metadata.name {name!r} is not DNS-safe (lower-case letters, digits, '-')"))
    problems += [Problem(path, text) for text in _annotation_problems(metadata.get("annotations") or {})]
    problems += [Problem(path, text, error) for text, error in _spec_problems(spec, path.name == "function-gpu.yaml")]
    problems += [Problem(path, text) for text in _handler_problems(path, spec)]
    if checker is None:
        locks = _find_locks(path)
        checker = StepChecker(path.parent, locks, _folder_pins(path.parent, runtime_pins(locks)[0])[0])
    problems += [Problem(path, text, error) for text, error in _build_problems(spec, checker)]
    return problems


def _pair_problems(folder: Path) -> list[Problem]:
    cpu, gpu = folder / "function.yaml", folder / "function-gpu.yaml"
    if not (cpu.is_file() and gpu.is_file()):
        return []
    try:
        names = [(yaml.safe_load(p.read_text()) or {}).get("metadata", {}).get("name") for p in (cpu, gpu)]
    except yaml.YAMLError:
        return []
    if names[0] != names[1]:
        return [Problem(gpu, f"metadata.name {names[1]!r} differs from function.yaml's {names[0]!r}")]
    return []


def lint_paths(paths: list[Path], locks: Path | None = None) -> list[Problem]:
    """Lint every function yaml under the given files or folders, and the lock files they install from.

    ``locks`` is the runtime lock folder (default: ``requirements/`` next to the tree's ``common/``).
    """
    files: list[Path] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        else:
            files += sorted(p for name in YAML_NAMES for p in path.rglob(name) if "fixtures" not in p.parts)
    if not files:
        return []
    locks = locks or _find_locks(files[0])
    pins, lock_problems = runtime_pins(locks)
    problems = [Problem(source, message) for source, message in lock_problems]
    for folder in sorted({file.parent for file in files}):
        folder_pins, folder_problems = _folder_pins(folder, pins)
        problems += folder_problems
        checker = StepChecker(folder, locks, folder_pins)
        problems += [problem for file in files if file.parent == folder for problem in lint_file(file, checker)]
        problems += _pair_problems(folder)
    return problems
