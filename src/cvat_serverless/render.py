"""Draw a function's answer over its image: boxes, polygons, masks, skeleton points, labels."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from common.masks import decode_function_mask, mask_to_polygon, rle_to_bitmap

PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240)]


def _color(label: str) -> tuple[int, int, int]:
    return PALETTE[sum(map(ord, label)) % len(PALETTE)]


def _pairs(points: list[float]) -> list[tuple[float, float]]:
    return list(zip(points[0::2], points[1::2], strict=True))


def _paint_mask(image: Image.Image, full: np.ndarray, color: tuple[int, int, int]) -> Image.Image:
    overlay = Image.new("RGB", image.size, color)
    alpha = Image.fromarray((full * 110).astype(np.uint8))
    return Image.composite(overlay, image, alpha)


def _draw_item(image: Image.Image, item: dict[str, Any]) -> Image.Image:
    label, kind = str(item.get("label", "")), item.get("type")
    color = _color(label)
    points = item.get("points") or []
    if kind == "mask" and item.get("mask"):
        image = _paint_mask(image, decode_function_mask(item["mask"], (image.height, image.width)), color)
    elif kind == "mask" and len(points) >= 5:  # CVAT's RLE + box (interactor and tracker shapes)
        bitmap = rle_to_bitmap(points, (image.height, image.width))
        image = _paint_mask(image, bitmap, color)
        points = mask_to_polygon(bitmap) or []
    draw = ImageDraw.Draw(image)
    if kind == "rectangle" and len(points) == 4:
        draw.rectangle(points, outline=color, width=2)
    elif kind in ("polygon", "mask") and len(points) >= 6:
        draw.polygon(_pairs(points), outline=color, width=2)
    elif kind == "polyline" and len(points) >= 4:
        draw.line(_pairs(points), fill=color, width=2)
    for element in item.get("elements", []):
        if not element.get("outside"):
            x, y = element["points"][:2]
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color)
    anchor = points[:2] if len(points) >= 2 else next((e["points"][:2] for e in item.get("elements", [])), None)
    if anchor:
        draw.text((anchor[0] + 2, anchor[1] + 2), f"{label} {item.get('confidence', '')}".strip(), fill=color)
    return image


def render(image: Image.Image, answer: Any) -> Image.Image:
    """Return a copy of ``image`` with a detector list or an interactor/tracker answer drawn on it."""
    canvas = image.convert("RGB").copy()
    if isinstance(answer, list):
        for item in answer:
            if isinstance(item, dict):
                canvas = _draw_item(canvas, item)
    elif isinstance(answer, dict) and answer.get("mask"):
        # A legacy full-image {"mask"}: rows from the top-left corner, as cvat-core reads them.
        full = np.zeros((canvas.height, canvas.width), bool)
        crop = np.asarray(answer["mask"]) > 0
        full[: crop.shape[0], : crop.shape[1]] = crop[: canvas.height, : canvas.width]
        canvas = _paint_mask(canvas, full, PALETTE[0])
    elif isinstance(answer, dict) and isinstance(answer.get("shapes"), list):
        for shape in answer["shapes"]:
            if shape is not None:
                item = shape if isinstance(shape, dict) else {"type": "rectangle", "points": shape}
                canvas = _draw_item(canvas, {"label": "", **item})
    return canvas
