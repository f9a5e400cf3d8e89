"""A Nuclio function config seen as a CVAT lambda function (V-A ``LambdaFunction``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.errors import InvalidFunctionConfig
from common.labels import LabelSpec, parse_spec
from cvat_serverless.gateway.errors import InvalidFunctionMetadata

KINDS = ("detector", "interactor", "tracker", "reid")


def label_to_dict(label: LabelSpec) -> dict[str, Any]:
    """The ``labels_v2`` item of one label (name, type, attributes; sublabels and svg for skeletons)."""
    item: dict[str, Any] = {
        "name": label.name,
        "type": label.type,
        "attributes": [
            {"name": a.name, "input_type": a.input_type, "values": list(a.values)} for a in label.attributes
        ],
    }
    if label.type == "skeleton":
        item["sublabels"] = [label_to_dict(sub) for sub in label.sublabels]
        item["svg"] = label.svg
    return item


def _trigger_workers(spec: Mapping[str, Any]) -> int:
    for trigger in (spec.get("triggers") or {}).values():
        if isinstance(trigger, Mapping) and trigger.get("kind") == "http":
            for key in ("numWorkers", "maxWorkers"):
                value = trigger.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    return value
    return 1


@dataclass(frozen=True)
class LambdaFunction:
    """What CVAT reads from a dashboard function config, validated as CVAT validates it."""

    id: str
    kind: str
    name: str
    description: str
    version: int
    labels: tuple[LabelSpec, ...]
    annotations: Mapping[str, str]
    http_port: int | None = None
    workers: int = 1
    """The HTTP trigger's worker count (``numWorkers``/``maxWorkers``), 1 when not given."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LambdaFunction:
        """Parse one dashboard config; bad metadata raises :class:`InvalidFunctionMetadata`."""
        try:
            metadata = config["metadata"]
            func_id = str(metadata["name"])
            annotations = {str(k): "" if v is None else str(v) for k, v in (metadata.get("annotations") or {}).items()}
            description = str(config["spec"]["description"])
        except (KeyError, TypeError) as error:
            raise InvalidFunctionMetadata(f"function config lacks {error}") from None
        kind = annotations.get("type", "")
        if kind not in KINDS:
            raise InvalidFunctionMetadata(f"{func_id} has unknown type {kind!r}")
        try:
            labels = parse_spec(annotations.get("spec") or "[]")
            version = int(annotations.get("version", "1"))
            int(annotations.get("min_pos_points", "1"))
            int(annotations.get("min_neg_points", "-1"))
        except (InvalidFunctionConfig, ValueError) as error:
            raise InvalidFunctionMetadata(f"{func_id} has invalid metadata: {error}") from None
        port = (config.get("status") or {}).get("httpPort")
        return cls(
            id=func_id,
            kind=kind,
            name=annotations.get("name", func_id),
            description=description,
            version=version,
            labels=labels,
            annotations=annotations,
            http_port=int(port) if isinstance(port, int) else None,
            workers=_trigger_workers(config.get("spec") or {}),
        )

    @property
    def supported_shape_types(self) -> list[str] | None:
        """A tracker's declared shape types, or None for the legacy rectangle API."""
        declared = self.annotations.get("supported_shape_types")
        return [t.strip() for t in declared.split(",") if t.strip()] if declared else None

    def label(self, name: str) -> LabelSpec | None:
        """The function label called ``name``."""
        return next((label for label in self.labels if label.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The V-A object of ``GET /api/lambda/functions[/{id}]``."""
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "labels_v2": [label_to_dict(label) for label in self.labels],
            "description": self.description,
            "name": self.name,
            "version": self.version,
        }
        if self.kind == "interactor":
            # CVAT converts these with bool() on a string: any non-empty value is true.
            data.update(
                min_pos_points=int(self.annotations.get("min_pos_points", "1")),
                min_neg_points=int(self.annotations.get("min_neg_points", "-1")),
                startswith_box=bool(self.annotations.get("startswith_box", "")),
                startswith_box_optional=bool(self.annotations.get("startswith_box_optional", "")),
                help_message=self.annotations.get("help_message", ""),
                animated_gif=self.annotations.get("animated_gif", ""),
            )
        if self.kind == "tracker":
            data["supported_shape_types"] = self.supported_shape_types or ["rectangle"]
        return data
