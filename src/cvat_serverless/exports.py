"""Task annotations (CVAT's JSON shape) out to COCO JSON, CVAT for images 1.1 XML and function-level items."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask

from common.masks import encode_function_mask, rle_to_bitmap


@dataclass(frozen=True)
class FrameInfo:
    """One frame of the exported task."""

    index: int
    name: str
    width: int
    height: int


class LabelNames:
    """Task label/attribute ids → names, and task shapes back into a function's answer items."""

    def __init__(self, labels: Sequence[Mapping[str, Any]]) -> None:
        self.labels: dict[int, str] = {}
        self.attributes: dict[int, str] = {}
        for label in labels:
            self.labels[label["id"]] = label["name"]
            self.attributes.update({a["id"]: a["name"] for a in label.get("attributes") or []})
            for sub in label.get("sublabels") or []:
                self.labels[sub["id"]] = sub["name"]
                self.attributes.update({a["id"]: a["name"] for a in sub.get("attributes") or []})

    def attributes_of(self, shape: Mapping[str, Any]) -> list[dict[str, str]]:
        return [{"name": self.attributes[a["spec_id"]], "value": a["value"]} for a in shape.get("attributes") or []]

    def function_item(
        self, shape: Mapping[str, Any], size: tuple[int, int], *, with_confidence: bool = True
    ) -> dict[str, Any]:
        """A task shape as a detector answer item (``size`` is the frame's (height, width))."""
        item: dict[str, Any] = {"label": self.labels[shape["label_id"]], "type": shape["type"]}
        if with_confidence and "score" in shape:
            item["confidence"] = str(shape["score"])
        item["attributes"] = self.attributes_of(shape)
        if shape["type"] == "mask":
            item["mask"] = encode_function_mask(rle_to_bitmap(shape["points"], size))
        elif shape["type"] == "skeleton":
            elements = shape.get("elements") or []
            item["elements"] = [self.function_item(e, size, with_confidence=with_confidence) for e in elements]
        else:
            item["points"] = shape["points"]
        for key in ("outside", "rotation", "group"):
            if shape.get(key) not in (None, False, 0, 0.0):
                item["group_id" if key == "group" else key] = shape[key]
        return item


def _bbox(points: Sequence[float]) -> list[float]:
    xs, ys = points[0::2], points[1::2]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def to_coco(
    labels: Sequence[Mapping[str, Any]], frames: Sequence[FrameInfo], annotations: Mapping[str, Any]
) -> dict[str, Any]:
    """COCO instances JSON: boxes, polygons, masks as COCO RLE (pycocotools), skeletons as keypoints."""
    categories = []
    for label in labels:
        category: dict[str, Any] = {"id": label["id"], "name": label["name"], "supercategory": ""}
        if label.get("sublabels"):
            category["keypoints"] = [sub["name"] for sub in label["sublabels"]]
            category["skeleton"] = []
        categories.append(category)
    by_index = {frame.index: frame for frame in frames}
    images = [{"id": f.index + 1, "file_name": f.name, "width": f.width, "height": f.height} for f in frames]
    result = []
    for shape in annotations.get("shapes") or []:
        frame = by_index[shape["frame"]]
        item: dict[str, Any] = {
            "id": len(result) + 1,
            "image_id": frame.index + 1,
            "category_id": shape["label_id"],
            "iscrowd": 0,
            "attributes": {a["spec_id"]: a["value"] for a in shape.get("attributes") or []},
        }
        if "score" in shape:
            item["score"] = shape["score"]
        points = shape.get("points") or []
        if shape["type"] == "rectangle":
            x0, y0, x1, y1 = points[:4]
            item.update(bbox=[x0, y0, x1 - x0, y1 - y0], area=(x1 - x0) * (y1 - y0), segmentation=[])
        elif shape["type"] == "polygon":
            bbox = _bbox(points)
            polygon = np.asarray(points, dtype=np.float64).reshape(-1, 2)
            x, y = polygon[:, 0], polygon[:, 1]
            area = 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
            item.update(bbox=bbox, area=area, segmentation=[list(points)])
        elif shape["type"] == "mask":
            bitmap = rle_to_bitmap(points, (frame.height, frame.width))
            rle = coco_mask.encode(np.asfortranarray(bitmap.astype(np.uint8)))
            item.update(
                bbox=[float(v) for v in coco_mask.toBbox(rle)],
                area=float(coco_mask.area(rle)),
                segmentation={"size": rle["size"], "counts": rle["counts"].decode("ascii")},
            )
        elif shape["type"] == "skeleton":
            elements = shape.get("elements") or []
            keypoints: list[float] = []
            for element in elements:
                keypoints += [*element["points"][:2], 0 if element.get("outside") else 2]
            visible = [e["points"][:2] for e in elements if not e.get("outside")]
            flat = [v for p in visible for v in p]
            bbox = _bbox(flat) if flat else [0, 0, 0, 0]
            item.update(keypoints=keypoints, num_keypoints=len(visible), bbox=bbox, area=bbox[2] * bbox[3])
        else:
            bbox = _bbox(points) if points else [0, 0, 0, 0]
            item.update(bbox=bbox, area=bbox[2] * bbox[3], segmentation=[])
        result.append(item)
    return {"images": images, "categories": categories, "annotations": result}


def _points_text(points: Sequence[float]) -> str:
    return ";".join(f"{x:.2f},{y:.2f}" for x, y in zip(points[0::2], points[1::2], strict=True))


def to_cvat_xml(
    task_name: str, labels: Sequence[Mapping[str, Any]], frames: Sequence[FrameInfo], annotations: Mapping[str, Any]
) -> str:
    """CVAT for images 1.1 XML of the task's shapes and tags."""
    names = LabelNames(labels)
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    ET.SubElement(task, "name").text = task_name
    ET.SubElement(task, "size").text = str(len(frames))
    labels_el = ET.SubElement(task, "labels")
    for label in labels:
        label_el = ET.SubElement(labels_el, "label")
        ET.SubElement(label_el, "name").text = label["name"]
        ET.SubElement(label_el, "type").text = str(label.get("type") or "any")
        attributes_el = ET.SubElement(label_el, "attributes")
        for attribute in label.get("attributes") or []:
            attribute_el = ET.SubElement(attributes_el, "attribute")
            ET.SubElement(attribute_el, "name").text = attribute["name"]
            ET.SubElement(attribute_el, "input_type").text = attribute["input_type"]
            ET.SubElement(attribute_el, "values").text = "\n".join(attribute.get("values") or [])
    images = {}
    for frame in frames:
        images[frame.index] = ET.SubElement(
            root,
            "image",
            id=str(frame.index),
            name=frame.name,
            width=str(frame.width),
            height=str(frame.height),
        )

    def add_attributes(element: ET.Element, shape: Mapping[str, Any]) -> None:
        for attribute in names.attributes_of(shape):
            ET.SubElement(element, "attribute", name=attribute["name"]).text = attribute["value"]

    def add_shape(parent: ET.Element, shape: Mapping[str, Any]) -> None:
        common = {"label": names.labels[shape["label_id"]], "source": str(shape.get("source", "auto"))}
        common["occluded"] = "1" if shape.get("occluded") else "0"
        if "score" in shape:
            common["score"] = f"{shape['score']:.4f}"
        points = shape.get("points") or []
        kind = shape["type"]
        if kind == "rectangle":
            element = ET.SubElement(parent, "box", common, xtl=f"{points[0]:.2f}", ytl=f"{points[1]:.2f}")
            element.set("xbr", f"{points[2]:.2f}")
            element.set("ybr", f"{points[3]:.2f}")
            element.set("z_order", "0")
        elif kind == "mask":
            left, top, right, bottom = (int(v) for v in points[-4:])
            element = ET.SubElement(parent, "mask", common, rle=", ".join(str(int(v)) for v in points[:-4]))
            element.set("left", str(left))
            element.set("top", str(top))
            element.set("width", str(right - left + 1))
            element.set("height", str(bottom - top + 1))
            element.set("z_order", "0")
        elif kind == "skeleton":
            element = ET.SubElement(parent, "skeleton", common, z_order="0")
            for child in shape.get("elements") or []:
                add_shape(element, child)
        else:
            element = ET.SubElement(parent, kind, common, points=_points_text(points), z_order="0")
            if kind == "points" and shape.get("outside"):
                element.set("outside", "1")
        add_attributes(element, shape)

    for shape in annotations.get("shapes") or []:
        add_shape(images[shape["frame"]], shape)
    for tag in annotations.get("tags") or []:
        element = ET.SubElement(images[tag["frame"]], "tag", label=names.labels[tag["label_id"]], source="auto")
        add_attributes(element, tag)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def flatten_tracks(annotations: Mapping[str, Any]) -> dict[str, Any]:
    """Annotations with every track's visible keyframes turned into plain shapes (for per-image exports)."""
    shapes = list(annotations.get("shapes") or [])
    for track in annotations.get("tracks") or []:
        for keyframe in track.get("shapes") or []:
            if not keyframe.get("outside"):
                shapes.append(
                    {
                        "label_id": track["label_id"],
                        "source": track.get("source", "auto"),
                        "attributes": track.get("attributes", []),
                        **keyframe,
                    }
                )
    return {**annotations, "shapes": shapes, "tracks": []}
