"""YOLO pre/post-processing shared by the YOLO functions: letterbox, decode, NMS, un-letterbox.

numpy and OpenCV only, so an image with a YOLO function needs no torch. Decodes every head an
ultralytics ONNX export has today, for detect, segment, pose and obb:

- classic (YOLOv8 / YOLO11, ``nms=False``): ``1 × (4 + classes + extra) × anchors``, rows
  ``cx, cy, w, h, class scores, extra``; needs NMS here;
- end-to-end (YOLOv10 / YOLO26, or ``nms=True``): ``1 × N × (6 + extra)``, rows
  ``x1, y1, x2, y2, score, class, extra`` (obb: ``cx, cy, w, h``); already suppressed.

``extra`` is 32 mask coefficients (segment, with a ``1 × 32 × mh × mw`` prototype output),
``k × (x, y[, visibility])`` keypoints in network pixels (pose) or one angle in radians (obb).
"""

from __future__ import annotations

import ast
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from common.detector import DetectorRequest
from common.devices import onnx_session
from common.errors import InvalidFunctionConfig
from common.image import to_array
from common.labels import load_function_config
from common.shapes import Item, keypoint, mask, rectangle, skeleton
from common.weights import weights_path

PAD_VALUE = 114
MODEL_ENV = "YOLO_MODEL"
SIZE_ENV = "YOLO_INPUT_SIZE"
TASKS = ("detect", "segment", "pose", "obb")
KEYPOINT_VISIBLE = 0.5
"""Ultralytics draws a keypoint whose visibility is at least this; below it is ``outside``."""


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the network input: ``net = image * scale + pad``."""

    scale: float
    pad_x: float
    pad_y: float
    width: int
    height: int
    """The original image size."""

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """Map (N, 4) xyxy boxes from network to image coordinates, clipped to the image."""
        return self.points_to_image(np.asarray(boxes, dtype=np.float64).reshape(-1, 2)).reshape(-1, 4)

    def points_to_image(self, points: np.ndarray) -> np.ndarray:
        """Map (..., 2) xy points from network to image coordinates, clipped to the image."""
        mapped = (np.asarray(points, dtype=np.float64) - [self.pad_x, self.pad_y]) / self.scale
        mapped[..., 0] = mapped[..., 0].clip(0, self.width - 1)
        mapped[..., 1] = mapped[..., 1].clip(0, self.height - 1)
        return mapped

    def mask_to_image(self, mask: np.ndarray) -> np.ndarray:
        """Map a network-size bool mask to an image-size one (drop the padding, resize back)."""
        top, left = int(self.pad_y), int(self.pad_x)
        new_h, new_w = max(1, round(self.height * self.scale)), max(1, round(self.width * self.scale))
        inner = np.asarray(mask, dtype=np.uint8)[top : top + new_h, left : left + new_w]
        return cv2.resize(inner, (self.width, self.height), interpolation=cv2.INTER_NEAREST).astype(bool)


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Resize an (H, W, 3) image to fit ``size`` (h, w) keeping its aspect, centred on grey padding."""
    height, width = image.shape[:2]
    target_h, target_w = size
    scale = min(target_h / height, target_w / width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((target_h, target_w, 3), PAD_VALUE, dtype=np.uint8)
    top, left = (target_h - new_h) // 2, (target_w - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas, Letterbox(scale=scale, pad_x=left, pad_y=top, width=width, height=height)


def to_nchw(image: np.ndarray) -> np.ndarray:
    """uint8 HWC RGB → float32 1×3×H×W in [0, 1]."""
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


@dataclass(frozen=True)
class YoloExport:
    """What an ultralytics ONNX export says about itself in its metadata (``metadata_props``)."""

    task: str = "detect"
    names: Mapping[int, str] = field(default_factory=dict)
    imgsz: tuple[int, int] | None = None
    kpt_shape: tuple[int, int] | None = None
    kpt_names: tuple[str, ...] = ()
    end2end: bool | None = None
    """None when the export does not say (older exports have no ``end2end`` key): the output's shape decides."""

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> YoloExport:
        """Parse ultralytics' metadata (values are Python literals as strings); raises ValueError."""

        def literal(key: str) -> Any:
            try:
                return ast.literal_eval(metadata[key]) if key in metadata else None
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                raise ValueError(f"metadata {key!r} is not a Python literal: {metadata[key][:80]!r}") from None

        task = metadata.get("task", "detect")
        if task not in TASKS:
            raise ValueError(f"task {task!r} is not supported (one of {', '.join(TASKS)})")
        names = literal("names") or {}
        names = dict(enumerate(names)) if isinstance(names, list | tuple) else names
        if not isinstance(names, dict) or not all(isinstance(k, int) for k in names):
            raise ValueError("metadata 'names' must map class indices to names")
        imgsz, kpt_shape, kpt_names = literal("imgsz"), literal("kpt_shape"), literal("kpt_names")
        if isinstance(imgsz, int):
            imgsz = (imgsz, imgsz)
        if task == "pose" and (not isinstance(kpt_shape, list | tuple) or len(kpt_shape) != 2):
            raise ValueError("a pose export needs metadata 'kpt_shape' [keypoints, 2 or 3]")
        if isinstance(kpt_names, dict):  # ultralytics: {class: [names]}; one skeleton per export here
            kpt_names = next(iter(kpt_names.values()), None)
        args = literal("args")
        nms_inside = isinstance(args, dict) and args.get("nms") is True  # NMSModel: end-to-end rows too
        end2end = "True" if nms_inside else metadata.get("end2end")
        return cls(
            task=task,
            names={int(k): str(v) for k, v in names.items()},
            imgsz=(int(imgsz[0]), int(imgsz[-1])) if isinstance(imgsz, list | tuple) and imgsz else None,
            kpt_shape=(int(kpt_shape[0]), int(kpt_shape[1])) if task == "pose" else None,
            kpt_names=tuple(str(n) for n in kpt_names) if isinstance(kpt_names, list | tuple) else (),
            end2end=None if end2end is None else end2end.strip().lower() == "true",
        )

    def extra_channels(self, mask_channels: int = 0) -> int:
        """How many channels follow the box and class in each row."""
        if self.task == "pose" and self.kpt_shape is not None:
            return self.kpt_shape[0] * self.kpt_shape[1]
        return {"segment": mask_channels, "obb": 1}.get(self.task, 0)


@dataclass(frozen=True)
class Decoded:
    """Detections in network coordinates, best first."""

    boxes: np.ndarray
    """(N, 4): x1, y1, x2, y2; for obb cx, cy, w, h of the rotated box."""
    scores: np.ndarray
    classes: np.ndarray
    extra: np.ndarray
    """(N, extra): mask coefficients, keypoints or the angle (radians)."""


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Class-aware non-maximum suppression; returns kept indices, best score first."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    xywh = np.column_stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]])
    kept = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), classes.astype(int).tolist(), 0.0, iou_threshold)
    kept = np.asarray(kept, dtype=np.int64).ravel()
    return kept[np.argsort(-scores[kept])]


def nms_rotated(
    boxes: np.ndarray, angles: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """Class-aware NMS of rotated ``cx, cy, w, h`` boxes (angles in radians); kept indices, best first."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    offset = (np.abs(boxes).max() + 1) * 4 * classes.astype(np.float64)  # classes never overlap
    rects = [
        ((float(cx + shift), float(cy + shift)), (float(w), float(h)), math.degrees(float(angle)))
        for (cx, cy, w, h), angle, shift in zip(boxes, angles, offset, strict=True)
    ]
    kept = np.asarray(cv2.dnn.NMSBoxesRotated(rects, scores.tolist(), 0.0, iou_threshold), dtype=np.int64).ravel()
    return kept[np.argsort(-scores[kept])]


def is_end2end(output: np.ndarray, extra: int, export: YoloExport | None = None) -> bool:
    """Whether ``output`` is an NMS-free ``(1, N, 6 + extra)`` head: the metadata says, else the shape."""
    if export is not None and export.end2end is not None:
        return export.end2end
    shape = np.shape(output)[-2:]
    return len(shape) == 2 and shape[1] == 6 + extra and shape[0] > shape[1]


def decode_rows(
    output: np.ndarray,
    extra: int,
    conf_threshold: float,
    *,
    end2end: bool = False,
    rotated: bool = False,
    iou_threshold: float = 0.45,
    max_detections: int = 300,
) -> Decoded:
    """Decode one head output of either layout (see the module docstring) into :class:`Decoded`."""
    predictions = np.asarray(output, dtype=np.float32)
    predictions = predictions[0] if predictions.ndim == 3 else predictions
    if end2end:
        if predictions.ndim != 2 or predictions.shape[1] != 6 + extra:
            raise ValueError(f"expected an end-to-end (N, 6 + {extra}) output, got shape {np.shape(output)}")
        rows = predictions[predictions[:, 4] >= conf_threshold]
        rows = rows[np.argsort(-rows[:, 4], kind="stable")][:max_detections]
        return Decoded(rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int64), rows[:, 6:])
    if predictions.ndim != 2 or predictions.shape[0] < 5 + extra:
        raise ValueError(f"expected a (4 + classes + {extra}, anchors) output, got shape {np.shape(output)}")
    rows = predictions.T
    class_scores = rows[:, 4 : rows.shape[1] - extra]
    classes = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(classes)), classes]
    keep = scores >= conf_threshold
    boxes, classes, scores, tails = rows[keep, :4], classes[keep], scores[keep], rows[keep, rows.shape[1] - extra :]
    if rotated:
        kept = nms_rotated(boxes, tails[:, -1], scores, classes, iou_threshold)[:max_detections]
    else:
        centre, half = boxes[:, :2], boxes[:, 2:] / 2
        boxes = np.column_stack([centre - half, centre + half])
        kept = nms(boxes, scores, classes, iou_threshold)[:max_detections]
    return Decoded(boxes[kept], scores[kept], classes[kept].astype(np.int64), tails[kept])


def decode_ultralytics(
    output: np.ndarray, conf_threshold: float, iou_threshold: float = 0.45, max_detections: int = 300
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode an ultralytics v8/v11 detect head, ``(1, 4 + C, N)``: rows cx, cy, w, h, class scores.

    Returns xyxy boxes (network coordinates), scores and class ids after NMS.
    """
    found = decode_rows(output, 0, conf_threshold, iou_threshold=iou_threshold, max_detections=max_detections)
    return found.boxes, found.scores, found.classes


def instance_masks(
    coefficients: np.ndarray, boxes: np.ndarray, prototypes: np.ndarray, input_size: tuple[int, int]
) -> np.ndarray:
    """Bool masks at the network size: sigmoid(coefficients · prototypes), upsampled, cut to each box, > 0.5."""
    protos = np.asarray(prototypes, dtype=np.float32)
    protos = protos[0] if protos.ndim == 4 else protos
    channels, proto_h, proto_w = protos.shape
    height, width = input_size
    masks = np.zeros((len(boxes), height, width), dtype=bool)
    if len(boxes):
        logits = (coefficients @ protos.reshape(channels, -1)).reshape(-1, proto_h, proto_w)
        for index, (logit, box) in enumerate(zip(logits, boxes, strict=True)):
            probability = cv2.resize(1 / (1 + np.exp(-logit)), (width, height), interpolation=cv2.INTER_LINEAR)
            x0, y0, x1, y1 = (round(float(v)) for v in np.clip(box, 0, [width, height, width, height]))
            masks[index, y0:y1, x0:x1] = probability[y0:y1, x0:x1] > 0.5
    return masks


def decode_ultralytics_segment(
    output: np.ndarray,
    prototypes: np.ndarray,
    input_size: tuple[int, int],
    conf_threshold: float,
    iou_threshold: float = 0.45,
    max_detections: int = 300,
    end2end: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decode an ultralytics segment head (either layout) and its ``(1, M, mh, mw)`` prototypes.

    Returns boxes, scores, classes and bool masks at the network size (see :func:`instance_masks`).
    """
    channels = np.shape(prototypes)[-3]
    e2e = is_end2end(output, channels) if end2end is None else end2end
    found = decode_rows(
        output, channels, conf_threshold, end2end=e2e, iou_threshold=iou_threshold, max_detections=max_detections
    )
    masks = instance_masks(found.extra, found.boxes, prototypes, input_size)
    return found.boxes, found.scores, found.classes, masks


def rotated_box(row: Sequence[float], angle: float, fit: Letterbox) -> tuple[list[float], float]:
    """A network ``cx, cy, w, h`` + radians box as CVAT's rotated rectangle on the image.

    Returns the unrotated corners ``[xtl, ytl, xbr, ybr]`` and the rotation in degrees, [0, 180):
    CVAT turns the corners about the centre by that many degrees, clockwise on screen (y down),
    which is ultralytics' own angle convention. ``w >= h`` after ultralytics' regularisation.
    """
    cx, cy, w, h = (float(v) for v in row)
    if w < h:
        w, h, angle = h, w, angle + math.pi / 2
    ((centre_x, centre_y),) = fit.points_to_image(np.array([[cx, cy]]))
    half_w, half_h = w / 2 / fit.scale, h / 2 / fit.scale
    degrees = math.degrees(angle % math.pi) % 180.0
    return [centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h], degrees


class OnnxYolo:
    """A detector over an ultralytics ONNX export: the task and head come from the export, labels from the yaml.

    Class ids map to names through the spec's ``id`` fields; a class the spec does not declare is
    dropped. detect answers rectangles, segment masks, pose skeletons (keypoints in the order of
    the label's sublabels), obb rectangles with CVAT's ``rotation``. An export without ultralytics'
    metadata is a detect model, or a segment one when it has a prototype output.
    """

    default_threshold = 0.25
    iou_threshold = 0.45

    def __init__(self, folder: Path, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.config = load_function_config(folder, env)
        self.names = self.config.names_by_id()
        self.session = onnx_session(weights_path(MODEL_ENV, folder / "model.onnx", env), env)
        outputs = self.session.get_outputs()
        metadata = self.session.get_modelmeta().custom_metadata_map
        segment = len(outputs) > 1 and len(outputs[1].shape) == 4
        try:
            self.export = (
                YoloExport.from_metadata(metadata)
                if "task" in metadata
                else YoloExport(task="segment" if segment else "detect")
            )
        except ValueError as error:
            raise InvalidFunctionConfig(f"the model's metadata: {error}") from None
        self.mask_channels = int(outputs[1].shape[1]) if segment else 0
        if self.export.task == "segment" and not segment:
            raise InvalidFunctionConfig("a segment export needs a second (1, 32, mh, mw) prototype output")
        self.skeletons = {label.name: [sub.name for sub in label.sublabels] for label in self.config.labels}
        if self.export.task == "pose" and self.export.kpt_shape is not None:
            count = self.export.kpt_shape[0]
            for name in self.names.values():
                if len(self.skeletons[name]) != count:
                    raise InvalidFunctionConfig(f"skeleton {name!r} needs {count} sublabels, one per keypoint")
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.size = _input_size(model_input.shape[2:4], env.get(SIZE_ENV), self.export.imgsz)
        self.fixed_input_size = (self.size[1], self.size[0])  # every frame is letterboxed to it: decode JPEGs reduced

    def infer(self, request: DetectorRequest) -> list[Item]:
        canvas, fit = letterbox(to_array(request.image), self.size)
        outputs = self.session.run(None, {self.input_name: to_nchw(canvas)})
        task, extra = self.export.task, self.export.extra_channels(self.mask_channels)
        found = decode_rows(
            outputs[0],
            extra,
            request.threshold,
            end2end=is_end2end(outputs[0], extra, self.export),
            rotated=task == "obb",
            iou_threshold=self.iou_threshold,
        )
        masks = instance_masks(found.extra, found.boxes, outputs[1], self.size) if task == "segment" else None
        items = []
        for index, (label, score) in enumerate(zip(found.classes, found.scores, strict=True)):
            name = self.names.get(int(label))
            if name is not None:
                item = self._item(name, float(score), found, index, fit, masks)
                items += [item] if item is not None else []
        return items

    def _item(
        self, name: str, score: float, found: Decoded, index: int, fit: Letterbox, masks: np.ndarray | None
    ) -> Item | None:
        if masks is not None:
            return mask(name, fit.mask_to_image(masks[index]), confidence=score)
        if self.export.task == "obb":
            corners, degrees = rotated_box(found.boxes[index], float(found.extra[index, -1]), fit)
            return rectangle(name, corners, confidence=score, rotation=degrees)
        if self.export.task == "pose" and self.export.kpt_shape is not None:
            points = found.extra[index].reshape(self.export.kpt_shape)
            xy = fit.points_to_image(points[:, :2])
            visible = points[:, 2] if points.shape[1] > 2 else np.ones(len(points))
            elements = [
                keypoint(sub, x, y, outside=bool(v < KEYPOINT_VISIBLE), confidence=float(v))
                for sub, (x, y), v in zip(self.skeletons[name], xy, visible, strict=True)
            ]
            return skeleton(name, elements, confidence=score)
        return rectangle(name, fit.to_image(found.boxes[index : index + 1])[0], confidence=score)


def _input_size(dims: Sequence[Any], override: str | None, imgsz: tuple[int, int] | None) -> tuple[int, int]:
    """The network input (h, w): a static export's own, else YOLO_INPUT_SIZE, the metadata's imgsz or 640."""
    if all(isinstance(d, int) and d > 0 for d in dims):
        return int(dims[0]), int(dims[1])
    if override:
        if not override.strip().isdigit() or int(override) < 32:
            raise InvalidFunctionConfig(f"{SIZE_ENV} must be an input size in pixels (e.g. 640), got {override!r}")
        return int(override), int(override)
    return imgsz or (640, 640)
