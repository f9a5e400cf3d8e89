"""Label mapping and the conversion of detector output into CVAT shapes (contract §5, §4.1).

A *task label* here is the dict the task API stores and returns (``id``, ``name``, ``type``,
``attributes`` with ``id``/``input_type``/``values``, ``sublabels``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.labels import AttributeSpec, LabelSpec
from common.masks import function_mask_to_rle
from cvat_serverless.gateway.errors import BadRequest, GatewayError

TaskLabel = Mapping[str, Any]


@dataclass(frozen=True)
class MappedLabel:
    """Where one model label goes: the task label, its attributes and (skeletons) its sublabels."""

    db: TaskLabel
    attributes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sublabels: Mapping[str, MappedLabel] = field(default_factory=dict)


def labels_compatible(model_type: str, db_type: str) -> bool:
    """CVAT's rule: equal types, ``any`` on either side (not with skeletons), or mask/polygon."""
    if model_type == db_type:
        return True
    if db_type == "any" and model_type != "skeleton":
        return True
    if model_type == "any" and db_type != "skeleton":
        return True
    return {model_type, db_type} <= {"mask", "polygon"}


def _by_name(items: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(item["name"]): item for item in items}


def _map_attributes(
    model: Sequence[AttributeSpec], db: Sequence[Mapping[str, Any]], explicit: Mapping[str, str] | None, where: str
) -> dict[str, Mapping[str, Any]]:
    db_by_name = _by_name(db)
    model_names = {attr.name for attr in model}
    if not explicit:
        return {name: db_by_name[name] for name in model_names if name in db_by_name}
    result = {}
    for model_attr, db_attr in explicit.items():
        if model_attr not in model_names:
            raise BadRequest(f"Invalid mapping. Unknown model attribute {model_attr!r} of {where}")
        if db_attr not in db_by_name:
            raise BadRequest(f"Invalid mapping. Unknown db attribute {db_attr!r} of {where}")
        result[model_attr] = db_by_name[db_attr]
    return result


def _map_one(model: LabelSpec, db: TaskLabel, entry: Mapping[str, Any] | None) -> MappedLabel:
    db_type = str(db.get("type") or "any")
    if not labels_compatible(model.type, db_type):
        raise BadRequest(f'Model label "{model.name}" and database label "{db["name"]}" are not compatible')
    explicit_attributes = (entry or {}).get("attributes")
    if explicit_attributes is not None and not (
        isinstance(explicit_attributes, Mapping) and all(isinstance(v, str) for v in explicit_attributes.values())
    ):
        raise BadRequest(f"Invalid mapping for {model.name!r}: 'attributes' must map model to db attribute names")
    attributes = _map_attributes(model.attributes, db.get("attributes") or [], explicit_attributes, model.name)
    sublabels: dict[str, MappedLabel] = {}
    if model.type == "skeleton":
        db_subs = _by_name(db.get("sublabels") or [])
        explicit = (entry or {}).get("sublabels")
        if explicit is not None and not isinstance(explicit, Mapping):
            raise BadRequest(f"Invalid mapping for {model.name!r}: 'sublabels' must be an object")
        if entry is not None and "sublabels" in entry and not explicit:
            raise BadRequest(f'Mapping for elements was not specified in skeleton "{model.name}"')
        for sub in model.sublabels:
            sub_entry = (explicit or {}).get(sub.name)
            if isinstance(sub_entry, str):
                sub_entry = {"name": sub_entry}
            if sub_entry is not None and not (
                isinstance(sub_entry, Mapping) and isinstance(sub_entry.get("name"), str)
            ):
                raise BadRequest(f"Invalid mapping for {sub.name!r} in skeleton {model.name!r}: expected a 'name'")
            target = sub_entry["name"] if sub_entry else (None if explicit else sub.name)
            if target is None:
                continue
            if target not in db_subs:
                if explicit:
                    raise BadRequest(f"Invalid mapping. Unknown db label {target!r} in skeleton {model.name!r}")
                continue
            sublabels[sub.name] = _map_one(sub, db_subs[target], sub_entry)
    return MappedLabel(db=db, attributes=attributes, sublabels=sublabels)


def resolve_mapping(
    model_labels: Sequence[LabelSpec], task_labels: Sequence[TaskLabel], mapping: Mapping[str, Any] | None
) -> dict[str, MappedLabel]:
    """Validate an explicit mapping, or pair labels by name (compatible types only) when there is none."""
    db_by_name = _by_name(task_labels)
    model_by_name = {label.name: label for label in model_labels}
    if not mapping:
        return {
            label.name: _map_one(label, db_by_name[label.name], None)
            for label in model_labels
            if label.name in db_by_name
            and labels_compatible(label.type, str(db_by_name[label.name].get("type") or "any"))
        }
    if not isinstance(mapping, Mapping):
        raise BadRequest("mapping must be an object {model label: {name: task label}}")
    result = {}
    for model_name, entry in mapping.items():
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise BadRequest(f"Invalid mapping for {model_name!r}: expected an object with a 'name'")
        if model_name not in model_by_name:
            raise BadRequest(f'Invalid mapping. Unknown model label "{model_name}"')
        if entry["name"] not in db_by_name:
            raise BadRequest(f'Invalid mapping. Unknown db label "{entry["name"]}"')
        result[model_name] = _map_one(model_by_name[model_name], db_by_name[entry["name"]], entry)
    return result


def attribute_value_ok(db_attr: Mapping[str, Any], value: str) -> bool:
    """CVAT's ``check_attr_value``: numbers in range and on the step grid, booleans, listed values."""
    kind = db_attr.get("input_type")
    values = [str(v) for v in db_attr.get("values") or []]
    if kind == "number":
        try:
            number = float(value)
            low, high, step = (float(v) for v in values[:3])
        except (TypeError, ValueError):
            return False
        return low <= number <= high and (step == 0 or abs((number - low) / step - round((number - low) / step)) < 1e-9)
    if kind == "checkbox":
        return value in ("true", "false")
    if kind == "text":
        return True
    return value in values


def _attributes(item: Mapping[str, Any], mapped: MappedLabel) -> list[dict[str, Any]]:
    result = []
    for attr in item.get("attributes") or []:
        if not isinstance(attr, Mapping):
            continue
        db_attr = mapped.attributes.get(str(attr.get("name")))
        value = str(attr.get("value"))
        if db_attr is not None and attribute_value_ok(db_attr, value):
            result.append({"spec_id": db_attr["id"], "value": value})
    return result


def _score(item: Mapping[str, Any]) -> float | None:
    try:
        score = float(item.get("confidence"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return score if 0.0 <= score <= 1.0 else None


def _points(item: Mapping[str, Any]) -> list[float]:
    points = item.get("points")
    if not isinstance(points, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in points):
        raise GatewayError(f"the function returned a {item.get('type')} without numeric 'points'", 500)
    return [float(v) for v in points]


def _elements(item: Mapping[str, Any], mapped: MappedLabel, frame: int) -> list[dict[str, Any]]:
    given = {str(e.get("label")): e for e in item.get("elements") or [] if isinstance(e, Mapping)}
    elements, present = [], []
    for model_name, sub in mapped.sublabels.items():
        element = given.get(model_name)
        if element is None:
            continue
        points = _points(element)
        outside = bool(element.get("outside", False))
        elements.append(
            {
                "type": str(element.get("type") or "points"),
                "frame": frame,
                "label_id": sub.db["id"],
                "points": points,
                "outside": outside,
                "occluded": False,
                "source": "auto",
                "attributes": _attributes(element, sub),
            }
        )
        if not outside:
            present.append(points[:2])
    if not present:
        return []
    cx = sum(p[0] for p in present) / len(present)
    cy = sum(p[1] for p in present) / len(present)
    for sub_name in (n for n in mapped.sublabels if n not in given):
        sub = mapped.sublabels[sub_name]
        elements.append(
            {
                "type": str(sub.db.get("type") or "points"),
                "frame": frame,
                "label_id": sub.db["id"],
                "points": [cx, cy],
                "outside": True,
                "occluded": False,
                "source": "auto",
                "attributes": [],
            }
        )
    return elements


def convert_detections(
    results: Any, mapping: Mapping[str, MappedLabel], frame: int, *, conv_mask_to_poly: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """Turn a detector's JSON array into ``{"tags": [...], "shapes": [...]}`` of CVAT annotations."""
    if not isinstance(results, list):
        raise GatewayError(f"a detector must answer a JSON array, got {type(results).__name__}", 500)
    tags, shapes = [], []
    for item in results:
        if not isinstance(item, Mapping):
            raise GatewayError("every detection must be a JSON object", 500)
        mapped = mapping.get(str(item.get("label")))
        if mapped is None:
            continue
        shape_type = str(item.get("type", "")).lower()
        common = {"frame": frame, "label_id": mapped.db["id"], "source": "auto"}
        common["attributes"] = _attributes(item, mapped)
        group = item.get("group_id")
        common["group"] = group if isinstance(group, int) and not isinstance(group, bool) and group >= 0 else None
        if shape_type == "tag":
            tags.append(common)
            continue
        shape: dict[str, Any] = {**common, "type": shape_type, "occluded": False, "z_order": 0}
        shape["outside"] = bool(item.get("outside", False))
        score = _score(item)
        if score is not None:
            shape["score"] = score
        if shape_type == "mask":
            if conv_mask_to_poly and "points" in item:
                shape.update(type="polygon", points=_points(item))
            else:
                mask = item.get("mask")
                if not isinstance(mask, list):
                    raise GatewayError("the function returned a mask without 'mask'", 500)
                try:
                    shape["points"] = [float(v) for v in function_mask_to_rle(mask)]
                except (ValueError, TypeError) as error:
                    raise GatewayError(f"the function returned an invalid mask: {error}", 500) from None
        elif shape_type == "skeleton":
            elements = _elements(item, mapped, frame)
            if not elements:
                continue
            shape.update(points=[], elements=elements)
        else:
            shape["points"] = _points(item)
        if shape_type in ("rectangle", "ellipse"):
            rotation = item.get("rotation", 0)
            shape["rotation"] = float(rotation) if isinstance(rotation, (int, float)) else 0.0
        shapes.append(shape)
    return {"tags": tags, "shapes": shapes}
