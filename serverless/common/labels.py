"""The label spec a function declares once, in function.yaml ``metadata.annotations.spec``.

In the container Nuclio copies the yaml to ``/opt/nuclio/function.yaml``; locally the file sits
in the function folder. :func:`load_function_config` finds it either way, and the spec is
validated with the rules CVAT applies, so a bad spec fails ``init_context`` instead of making
CVAT hide the function.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from common.errors import InvalidFunctionConfig

CONTAINER_FUNCTION_YAML = Path("/opt/nuclio/function.yaml")
FUNCTION_YAML_ENV = "CVAT_FUNCTION_YAML"
LABEL_TYPES = frozenset(
    {"any", "rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton", "tag"}
)
ATTRIBUTE_INPUT_TYPES = frozenset({"select", "radio", "checkbox", "number", "text"})
FUNCTION_KINDS = frozenset({"detector", "interactor", "tracker", "reid"})


@dataclass(frozen=True, kw_only=True)
class AttributeSpec:
    """One attribute of a label, as CVAT declares it."""

    name: str
    input_type: str
    values: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class LabelSpec:
    """One label of a function's spec."""

    label_id: int | None
    name: str
    type: str = "any"
    attributes: tuple[AttributeSpec, ...] = ()
    sublabels: tuple[LabelSpec, ...] = ()
    svg: str = ""


@dataclass(frozen=True, kw_only=True)
class FunctionConfig:
    """What the library needs from function.yaml: id, kind, annotations and labels."""

    name: str
    kind: str
    annotations: Mapping[str, str]
    labels: tuple[LabelSpec, ...] = field(default=())
    path: Path | None = None

    def label(self, name: str) -> LabelSpec:
        """Return the label called ``name``; raises ``KeyError`` if the spec has none."""
        for label in self.labels:
            if label.name == name:
                return label
        raise KeyError(name)

    def names_by_id(self) -> dict[int, str]:
        """Map each label's ``id`` (the model's class id) to its name."""
        return {label.label_id: label.name for label in self.labels if label.label_id is not None}


def _parse_attribute(raw: Any, where: str) -> AttributeSpec:
    if not isinstance(raw, Mapping):
        raise InvalidFunctionConfig(f"{where}: an attribute must be an object, got {raw!r}")
    missing = [key for key in ("name", "input_type", "values") if key not in raw]
    if missing:
        raise InvalidFunctionConfig(f"{where}: attribute {raw.get('name')!r} lacks {', '.join(missing)}")
    if raw["input_type"] not in ATTRIBUTE_INPUT_TYPES:
        raise InvalidFunctionConfig(f"{where}: attribute {raw['name']!r} has unknown input_type {raw['input_type']!r}")
    if not isinstance(raw["values"], list):
        raise InvalidFunctionConfig(f"{where}: attribute {raw['name']!r} values must be a list")
    return AttributeSpec(name=str(raw["name"]), input_type=raw["input_type"], values=tuple(map(str, raw["values"])))


def _check_unique(names: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidFunctionConfig(f"{what} {name!r} is declared twice")
        seen.add(name)


def parse_label(raw: Any, where: str = "spec") -> LabelSpec:
    """Parse and validate one label object of a spec (CVAT's rules, contract §1.1)."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise InvalidFunctionConfig(f"{where}: every label needs a non-empty string 'name', got {raw!r}")
    name = raw["name"]
    label_type = raw.get("type", "any")
    if label_type not in LABEL_TYPES:
        raise InvalidFunctionConfig(f"{where}: label {name!r} has unknown type {label_type!r}")
    attributes = tuple(_parse_attribute(item, f"{where}: label {name!r}") for item in raw.get("attributes", []))
    _check_unique([attr.name for attr in attributes], f"{where}: label {name!r}: attribute")
    sublabels: tuple[LabelSpec, ...] = ()
    svg = ""
    if label_type == "skeleton":
        if not raw.get("sublabels") or not isinstance(raw.get("svg"), str):
            raise InvalidFunctionConfig(f"{where}: skeleton label {name!r} needs 'sublabels' and 'svg'")
        sublabels = tuple(parse_label(item, f"{where}: skeleton {name!r}") for item in raw["sublabels"])
        _check_unique([sub.name for sub in sublabels], f"{where}: skeleton {name!r}: sublabel")
        svg = raw["svg"]
    label_id = raw.get("id")
    if label_id is not None and (isinstance(label_id, bool) or not isinstance(label_id, int)):
        raise InvalidFunctionConfig(f"{where}: label {name!r} has a non-integer id {label_id!r}")
    return LabelSpec(label_id=label_id, name=name, type=label_type, attributes=attributes, sublabels=sublabels, svg=svg)


def parse_spec(text: str | None) -> tuple[LabelSpec, ...]:
    """Parse the ``spec`` annotation (a JSON list; empty or absent means no labels)."""
    if text is None or not str(text).strip():
        return ()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidFunctionConfig(f"annotation 'spec' is not valid JSON: {error}") from None
    if not isinstance(raw, list):
        raise InvalidFunctionConfig(f"annotation 'spec' must be a JSON list, got {type(raw).__name__}")
    labels = tuple(parse_label(item) for item in raw)
    _check_unique([label.name for label in labels], "label")
    ids = [label.label_id for label in labels if label.label_id is not None]
    if len(ids) != len(set(ids)):
        raise InvalidFunctionConfig("label ids in 'spec' must be unique")
    return labels


def parse_function_config(document: Any, path: Path | None = None) -> FunctionConfig:
    """Build a :class:`FunctionConfig` from a parsed function.yaml document."""
    try:
        metadata = document["metadata"]
        name = metadata["name"]
        annotations = metadata.get("annotations") or {}
    except (TypeError, KeyError):
        raise InvalidFunctionConfig(f"{path or 'function.yaml'}: metadata.name is missing") from None
    kind = str(annotations.get("type", ""))
    if kind not in FUNCTION_KINDS:
        raise InvalidFunctionConfig(f"annotation 'type' must be one of {sorted(FUNCTION_KINDS)}, got {kind!r}")
    labels = parse_spec(annotations.get("spec"))
    as_strings = {str(key): "" if value is None else str(value) for key, value in annotations.items()}
    return FunctionConfig(name=str(name), kind=kind, annotations=as_strings, labels=labels, path=path)


def find_function_yaml(
    function_dir: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """Locate function.yaml: ``$CVAT_FUNCTION_YAML``, then ``function_dir``, then the container path."""
    env = os.environ if environ is None else environ
    candidates = []
    if env.get(FUNCTION_YAML_ENV):
        candidates.append(Path(env[FUNCTION_YAML_ENV]))
    if function_dir is not None:
        candidates.append(Path(function_dir) / "function.yaml")
    candidates.append(CONTAINER_FUNCTION_YAML)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise InvalidFunctionConfig(f"function.yaml not found (looked at {', '.join(map(str, candidates))})")


def load_function_config(
    function_dir: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> FunctionConfig:
    """Read and validate the function's own function.yaml (see :func:`find_function_yaml`).

    Model code passes ``Path(__file__).parent`` so the same call works locally and in the image.
    """
    path = find_function_yaml(function_dir, environ)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise InvalidFunctionConfig(f"{path}: cannot read: {error}") from None
    return parse_function_config(document, path)


SHAPE_TYPES_FOR_TRACKERS = frozenset({"rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask"})
"""Shape types a tracker may declare in ``supported_shape_types``."""
