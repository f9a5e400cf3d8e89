"""YOLO pre/post-processing shared by the YOLO functions: letterbox, decode, NMS, un-letterbox.

numpy and OpenCV only, so an image with a YOLO function needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


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
        mapped = (np.asarray(boxes, dtype=np.float64) - [self.pad_x, self.pad_y, self.pad_x, self.pad_y]) / self.scale
        mapped[:, 0::2] = mapped[:, 0::2].clip(0, self.width - 1)
        mapped[:, 1::2] = mapped[:, 1::2].clip(0, self.height - 1)
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


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Class-aware non-maximum suppression; returns kept indices, best score first."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    xywh = np.column_stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]])
    kept = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), classes.astype(int).tolist(), 0.0, iou_threshold)
    kept = np.asarray(kept, dtype=np.int64).ravel()
    return kept[np.argsort(-scores[kept])]


def _decode(
    output: np.ndarray, conf_threshold: float, iou_threshold: float, max_detections: int, extra: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    predictions = np.asarray(output, dtype=np.float32)
    if predictions.ndim == 3:
        predictions = predictions[0]
    if predictions.ndim != 2 or predictions.shape[0] < 5 + extra:
        raise ValueError(f"expected a (4 + classes + {extra}, anchors) output, got shape {np.asarray(output).shape}")
    predictions = predictions.T
    class_scores = predictions[:, 4 : predictions.shape[1] - extra]
    classes = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(classes)), classes]
    keep = scores >= conf_threshold
    centres, classes, scores = predictions[keep, :4], classes[keep], scores[keep]
    tails = predictions[keep, predictions.shape[1] - extra :]
    boxes = np.column_stack(
        [
            centres[:, 0] - centres[:, 2] / 2,
            centres[:, 1] - centres[:, 3] / 2,
            centres[:, 0] + centres[:, 2] / 2,
            centres[:, 1] + centres[:, 3] / 2,
        ]
    )
    kept = nms(boxes, scores, classes, iou_threshold)[:max_detections]
    return boxes[kept], scores[kept], classes[kept], tails[kept]


def decode_ultralytics(
    output: np.ndarray, conf_threshold: float, iou_threshold: float = 0.45, max_detections: int = 300
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode an ultralytics v8/v11 detect head, ``(1, 4 + C, N)``: rows cx, cy, w, h, class scores.

    Returns xyxy boxes (network coordinates), scores and class ids after NMS.
    """
    boxes, scores, classes, _ = _decode(output, conf_threshold, iou_threshold, max_detections, 0)
    return boxes, scores, classes


def decode_ultralytics_segment(
    output: np.ndarray,
    prototypes: np.ndarray,
    input_size: tuple[int, int],
    conf_threshold: float,
    iou_threshold: float = 0.45,
    max_detections: int = 300,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decode an ultralytics segment head: ``(1, 4 + C + M, N)`` rows ending in M mask coefficients and
    ``(1, M, mh, mw)`` prototypes. Returns boxes, scores, classes and bool masks at the network size:
    sigmoid(coefficients · prototypes), upsampled to ``input_size`` (h, w), cut to each box, > 0.5.
    """
    protos = np.asarray(prototypes, dtype=np.float32)
    protos = protos[0] if protos.ndim == 4 else protos
    channels, proto_h, proto_w = protos.shape
    boxes, scores, classes, coefficients = _decode(output, conf_threshold, iou_threshold, max_detections, channels)
    height, width = input_size
    masks = np.zeros((len(boxes), height, width), dtype=bool)
    if len(boxes):
        logits = (coefficients @ protos.reshape(channels, -1)).reshape(-1, proto_h, proto_w)
        for index, (logit, box) in enumerate(zip(logits, boxes, strict=True)):
            probability = cv2.resize(1 / (1 + np.exp(-logit)), (width, height), interpolation=cv2.INTER_LINEAR)
            x0, y0, x1, y1 = (round(float(v)) for v in np.clip(box, 0, [width, height, width, height]))
            masks[index, y0:y1, x0:x1] = probability[y0:y1, x0:x1] > 0.5
    return boxes, scores, classes, masks
