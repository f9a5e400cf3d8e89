"""CVAT's annotation bodies (``LabeledDataSerializer`` and the dataset manager's rules), checked and normalised.

- Input is validated as CVAT 2.73's serializers do: the same required keys, types, point counts
  and id rules per action; errors are DRF-style bodies (``{"shapes": [{"type": [...]}]}``).
- Output objects carry exactly the keys CVAT's ``*SerializerFromDB`` classes write, in their order;
  missing attribute values are filled with the label's defaults, as ``_extend_attributes`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cvat_serverless.gateway.errors import ValidationFailed
from cvat_serverless.gateway.numbers import INVALID, to_int

ACTIONS = ("create", "update", "delete")
SOURCES = ("auto", "semi-auto", "manual", "file", "consensus")
SHAPE_TYPES = ("rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton")
REQUIRED = "This field is required."
KINDS = ("tags", "shapes", "tracks", "intervals")
TAG_KEYS = ("id", "label_id", "frame", "group", "source", "attributes")
SHAPE_KEYS = (
    "id", "label_id", "type", "frame", "group", "source", "score",
    "occluded", "outside", "z_order", "rotation", "points", "attributes",
)  # fmt: skip
TRACKED_SHAPE_KEYS = ("id", "type", "frame", "occluded", "outside", "z_order", "rotation", "points", "attributes")
# What the serializers fill in for a missing key (also for objects saved by older versions of this server)
DEFAULTS = {
    "group": 0,
    "source": "manual",
    "score": 1,
    "occluded": False,
    "outside": False,
    "z_order": 0,
    "rotation": 0.0,
}
INTERVAL_KEYS = ("id", "label_id", "start", "stop", "group", "source", "score", "attributes")


def empty() -> dict[str, Any]:
    return {"version": 0, "tags": [], "shapes": [], "tracks": [], "intervals": []}


def _points_ok(shape_type: str, count: int) -> bool:
    if shape_type in ("rectangle", "ellipse"):
        return count == 4
    minimum = {"polygon": 6, "polyline": 4, "points": 2}.get(shape_type)
    if minimum is not None:
        return count >= minimum and count % 2 == 0
    return {"cuboid": count == 16, "mask": count >= 5, "skeleton": count == 0}[shape_type]


class _Checker:
    """Collects DRF-style errors for one object; ``ok`` when none."""

    def __init__(self, raw: Any) -> None:
        self.errors: dict[str, Any] = {}
        self.raw = raw if isinstance(raw, Mapping) else None
        if self.raw is None:
            self.errors["non_field_errors"] = [f"Invalid data. Expected a dictionary, but got {type(raw).__name__}."]

    def integer(self, key: str, *, default: Any = REQUIRED, minimum: int | None = 0, null: bool = False) -> Any:
        value = self._get(key, default)
        if value is None and null:
            return None
        value = to_int(value)
        if value is None:
            return self._fail(key, INVALID)
        if minimum is not None and value < minimum:
            return self._fail(key, f"Ensure this value is greater than or equal to {minimum}.")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> Any:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self._fail(key, "A valid number is required.")
        if not low <= value <= high:
            bound = "greater than or equal to " + f"{low:g}" if value < low else "less than or equal to " + f"{high:g}"
            return self._fail(key, f"Ensure this value is {bound}.")
        return value

    def boolean(self, key: str) -> Any:
        value = self._get(key, False)
        if value in (True, False, 0, 1, "true", "false", "True", "False"):
            return value in (True, 1, "true", "True")
        return self._fail(key, "Must be a valid boolean.")

    def choice(self, key: str, choices: Sequence[str]) -> Any:
        value = self._get(key, REQUIRED)
        if value not in choices:
            return self._fail(key, f'"{value}" is not a valid choice.')
        return value

    def _get(self, key: str, default: Any) -> Any:
        assert self.raw is not None
        if key in self.raw:
            return self.raw[key]
        if default is REQUIRED:
            self._fail(key, REQUIRED)
        return default

    def _fail(self, key: str, message: str) -> None:
        if key not in self.errors:
            self.errors[key] = [message]
        return None


def _common(check: _Checker, action: str | None) -> dict[str, Any]:
    """``AnnotationSerializer``: id (per action), label_id, group, source, attributes."""
    item: dict[str, Any] = {"id": check.integer("id", default=None, minimum=None, null=True)}
    if action == "create" and item["id"] is not None:
        check._fail("id", "must be absent")
    if action == "delete" and item["id"] is None and "id" not in check.errors:
        check._fail("id", "must be present and not null")
    item["label_id"] = check.integer("label_id")
    item["group"] = check.integer("group", default=0, null=True) or 0
    assert check.raw is not None
    source = str(check.raw.get("source", "manual"))
    if source not in SOURCES:
        if item["id"]:
            source = "manual"  # CVAT silently repairs old invalid sources on updates only
        else:
            check._fail("source", f"must be one of {', '.join(repr(s) for s in SOURCES)}, got '{source}'")
    item["source"] = source
    item["attributes"] = _attributes(check)
    return item


def _list_field(check: _Checker, key: str) -> list[Any]:
    """An optional list field (DRF's ``ListSerializer``): anything else is the field's error and no items."""
    assert check.raw is not None
    raw = check.raw.get(key) or []
    if not isinstance(raw, list):
        check._fail(key, f'Expected a list of items but got type "{type(raw).__name__}".')
        return []
    return raw


def _elements(check: _Checker, parse: Any, action: str | None) -> list[dict[str, Any]]:
    """The nested ``elements`` list parsed with ``parse(raw, action, element=True)``; their errors under
    ``elements`` (one entry per item, as DRF's nested serializer answers)."""
    elements, errors = [], []
    for sub in _list_field(check, "elements"):
        parsed, error = parse(sub, action, element=True)
        elements.append(parsed)
        errors.append(error)
    if any(errors):
        check.errors["elements"] = errors
    return elements


def _attributes(check: _Checker) -> list[dict[str, Any]]:
    assert check.raw is not None
    raw = check.raw.get("attributes", [])
    if not isinstance(raw, list):
        check._fail("attributes", f'Expected a list of items but got type "{type(raw).__name__}".')
        return []
    result, errors = [], []
    for attribute in raw:
        inner = _Checker(attribute)
        if inner.raw is not None:
            spec_id = inner.integer("spec_id", minimum=None)
            value = inner.raw.get("value", REQUIRED)
            if value is REQUIRED:
                inner._fail("value", REQUIRED)
            result.append({"spec_id": spec_id, "value": str(value)})
        errors.append(inner.errors)
    if any(errors):
        check.errors["attributes"] = errors
    return result


def _shape(check: _Checker, *, tracked: bool = False) -> dict[str, Any]:
    """``ShapeSerializer``: type, occluded, outside, z_order, rotation, points (count per type)."""
    assert check.raw is not None
    shape = {
        "type": check.choice("type", SHAPE_TYPES),
        "occluded": check.boolean("occluded"),
        "outside": check.boolean("outside"),
        "z_order": check.integer("z_order", default=0, minimum=None),
        "rotation": check.number("rotation", 0.0, 0, 360),
    }
    points = check.raw.get("points", [])
    if not isinstance(points, list):
        check._fail("points", f'Expected a list of items but got type "{type(points).__name__}".')
    elif any(isinstance(p, bool) or not isinstance(p, (int, float)) for p in points):
        check.errors["points"] = {
            str(i): ["Value must be a float or an integer"]
            for i, p in enumerate(points)
            if isinstance(p, bool) or not isinstance(p, (int, float))
        }
    elif shape["type"] is not None and not check.errors and not _points_ok(shape["type"], len(points)):
        check._fail("points", f"invalid length for shape type '{shape['type']}'")
    shape["points"] = list(points) if isinstance(points, list) else []
    shape["frame"] = check.integer("frame")
    if not tracked:
        shape["score"] = check.number("score", 1, 0, 1)
    return shape


def _labeled_shape(raw: Any, action: str | None, *, element: bool = False) -> tuple[dict[str, Any], Any]:
    check = _Checker(raw)
    if check.raw is None:
        return {}, check.errors
    item = {**_common(check, action), **_shape(check)}
    elements: list[dict[str, Any]] = []
    if not element:
        elements = _elements(check, _labeled_shape, action)
        if item["type"] == "skeleton" and not elements and not check.errors:
            check._fail("elements", "at least one required for skeleton shape")
        elif item["type"] != "skeleton" and elements and not check.errors:
            check._fail("elements", "not allowed for non-skeleton shape")
        item["elements"] = elements
    return item, check.errors


def _tag(raw: Any, action: str | None) -> tuple[dict[str, Any], Any]:
    check = _Checker(raw)
    if check.raw is None:
        return {}, check.errors
    return {**_common(check, action), "frame": check.integer("frame")}, check.errors


def _track(raw: Any, action: str | None, *, element: bool = False) -> tuple[dict[str, Any], Any]:
    check = _Checker(raw)
    if check.raw is None:
        return {}, check.errors
    item = {**_common(check, action), "frame": check.integer("frame")}
    shapes, shape_errors = [], []
    raw_shapes = check._get("shapes", REQUIRED)
    for sub in raw_shapes if isinstance(raw_shapes, list) else []:
        inner = _Checker(sub)
        if inner.raw is not None:
            shape = {**_shape(inner, tracked=True), "attributes": _attributes(inner)}
            shape["id"] = inner.integer("id", default=None, minimum=None, null=True)
            shapes.append(shape)
        shape_errors.append(inner.errors)
    if any(shape_errors):
        check.errors["shapes"] = shape_errors
    item["shapes"] = shapes
    if not element:
        item["elements"] = _elements(check, _track, action)
    return item, check.errors


def _interval(raw: Any, action: str | None) -> tuple[dict[str, Any], Any]:
    check = _Checker(raw)
    if check.raw is None:
        return {}, check.errors
    item = {**_common(check, action), "start": check.integer("start")}
    item["stop"] = check.integer("stop", null=True)
    item["score"] = check.number("score", 1, 0, 1)
    return item, check.errors


PARSERS = {"tags": _tag, "shapes": _labeled_shape, "tracks": _track, "intervals": _interval}


def parse(body: Mapping[str, Any], action: str | None) -> dict[str, Any]:
    """A validated, normalised LabeledData body; ``action`` is create / update / delete, or None for PUT."""
    data = empty()
    errors: dict[str, Any] = {}
    for kind, parser in PARSERS.items():
        raw = body.get(kind, [])
        if not isinstance(raw, list):
            errors[kind] = {"non_field_errors": [f'Expected a list of items but got type "{type(raw).__name__}".']}
            continue
        parsed = [parser(item, action) for item in raw]
        data[kind] = [item for item, _ in parsed]
        if any(error for _, error in parsed):
            errors[kind] = [error for _, error in parsed]
    if errors:
        raise ValidationFailed(errors)
    return data


def check_labels(data: Mapping[str, Any], labels: Sequence[Mapping[str, Any]]) -> None:
    """The dataset manager's checks: every label id and attribute spec id must belong to the task."""
    attributes: dict[int, set[int]] = {}
    for label in labels:
        for item in (label, *label.get("sublabels", [])):
            attributes[item["id"]] = {a["id"] for a in item.get("attributes", [])}
    for kind in KINDS:
        for item in data.get(kind, []):
            for obj in (item, *item.get("elements", []), *item.get("shapes", [])):
                label_id = obj.get("label_id", item["label_id"])
                if label_id not in attributes:
                    raise ValidationFailed([f"label_id `{label_id}` is invalid"])
                for attribute in obj.get("attributes", []):
                    if attribute["spec_id"] not in attributes[label_id]:
                        raise ValidationFailed([f"spec_id `{attribute['spec_id']}` is invalid"])


def render(item: Mapping[str, Any], kind: str, defaults: Mapping[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """One stored object with exactly the keys CVAT returns, attributes completed with label defaults."""

    def attrs(obj: Mapping[str, Any], label_id: int) -> list[dict[str, Any]]:
        given = [{"spec_id": a["spec_id"], "value": a["value"]} for a in obj.get("attributes", [])]
        known = {a["spec_id"] for a in given}
        return given + [dict(a) for a in defaults.get(label_id, []) if a["spec_id"] not in known]

    def pick(obj: Mapping[str, Any], keys: Sequence[str], label_id: int) -> dict[str, Any]:
        out = {key: obj.get(key, DEFAULTS.get(key)) for key in keys if key != "attributes"}
        if "type" in out and out["type"] == "skeleton":
            out["points"] = []
        out["attributes"] = attrs(obj, label_id)
        return out

    label = int(item["label_id"])
    if kind == "tags":
        return pick(item, TAG_KEYS, label)
    if kind == "intervals":
        return pick(item, INTERVAL_KEYS, label)
    if kind == "shapes":
        out = pick(item, SHAPE_KEYS, label)
        out["elements"] = [pick(e, SHAPE_KEYS, int(e["label_id"])) for e in item.get("elements", [])]
        return out
    out = pick(item, ("id", "label_id", "frame", "group", "source"), label)
    out["shapes"] = [pick(s, TRACKED_SHAPE_KEYS, label) for s in sorted(item["shapes"], key=lambda s: s["frame"])]
    out["elements"] = [
        {
            **pick(e, ("id", "label_id", "frame", "group", "source"), int(e["label_id"])),
            "shapes": [pick(s, TRACKED_SHAPE_KEYS, int(e["label_id"])) for s in e["shapes"]],
        }
        for e in item.get("elements", [])
    ]
    return out


def in_range(item: Mapping[str, Any], kind: str, start: int, stop: int) -> bool:
    """``AnnotationIR.slice``: tags and shapes by frame, tracks by any shape inside the range."""
    if kind in ("tags", "shapes"):
        return start <= int(item["frame"]) <= stop
    if kind == "intervals":
        return True  # CVAT copies every interval into each job of a task-level write
    shapes = [s for e in item.get("elements", []) for s in e["shapes"]] or item["shapes"]
    return any(start <= s["frame"] <= stop or (s["frame"] < start and not s["outside"]) for s in shapes)
