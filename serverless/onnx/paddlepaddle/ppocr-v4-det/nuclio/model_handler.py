"""PP-OCRv4 text detection (DB) on the ONNX file rapidocr-onnxruntime ships, with onnxruntime."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pyclipper

from common.detector import DetectorRequest
from common.devices import onnx_session
from common.image import to_array
from common.labels import load_function_config
from common.shapes import Item, polygon
from common.weights import weights_path

MODEL_ENV = "PPOCR_DET_MODEL"
MODEL_FILE = "ch_PP-OCRv4_det_infer.onnx"
# Published PP-OCRv4 detection settings (PaddleOCR / RapidOCR configs).
LIMIT_SIDE = 736
MAX_SIDE = 2400
BINARY_THRESHOLD = 0.3
UNCLIP_RATIO = 1.6
MAX_CANDIDATES = 1000
MIN_BOX_SIDE = 3
MEAN = STD = 0.5


def _default_model() -> Path:
    """The image's copy (/opt/nuclio), else the file inside the installed rapidocr-onnxruntime."""
    if (Path("/opt/nuclio") / MODEL_FILE).is_file():
        return Path("/opt/nuclio") / MODEL_FILE
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is not None and spec.origin is not None:
        return Path(spec.origin).parent / "models" / MODEL_FILE
    return Path("/opt/nuclio") / MODEL_FILE


def _resize_shape(height: int, width: int) -> tuple[int, int]:
    """Scale the short side up to 736 (capped at 2400 on the long side), then to multiples of 32."""
    ratio = LIMIT_SIDE / min(height, width) if min(height, width) < LIMIT_SIDE else 1.0
    if max(height, width) * ratio > MAX_SIDE:
        ratio = MAX_SIDE / max(height, width)
    return max(32, round(height * ratio / 32) * 32), max(32, round(width * ratio / 32) * 32)


def _unclip(box: np.ndarray) -> np.ndarray | None:
    """Grow a detected kernel by area × ratio / perimeter, as DB's training shrank it."""
    area, perimeter = cv2.contourArea(box), cv2.arcLength(box, True)
    if perimeter == 0:
        return None
    offset = pyclipper.PyclipperOffset()
    offset.AddPath([tuple(map(int, p)) for p in box], pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    grown = offset.Execute(area * UNCLIP_RATIO / perimeter)
    return np.asarray(grown[0], dtype=np.float32) if grown else None


def _box_score(probability: np.ndarray, contour: np.ndarray) -> float:
    mask = np.zeros(probability.shape, np.uint8)
    cv2.fillPoly(mask, [contour.astype(np.int32)], 1)
    return float(cv2.mean(probability, mask)[0])


def decode_probability_map(probability: np.ndarray, box_threshold: float, scale: tuple[float, float]) -> list[tuple]:
    """DB post-processing: threshold → contours → scored min-area rects → unclipped quads.

    Returns ``(quad (4×2, original image coordinates), score)`` pairs; ``scale`` is (sx, sy)
    from the network's resolution to the original image.
    """
    bitmap = cv2.dilate((probability > BINARY_THRESHOLD).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    results = []
    for contour in contours[:MAX_CANDIDATES]:
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < MIN_BOX_SIDE:
            continue
        score = _box_score(probability, contour.reshape(-1, 2))
        if score < box_threshold:
            continue
        grown = _unclip(cv2.boxPoints(rect))
        if grown is None:
            continue
        grown_rect = cv2.minAreaRect(grown)
        if min(grown_rect[1]) < MIN_BOX_SIDE + 2:
            continue
        quad = cv2.boxPoints(grown_rect) * np.asarray(scale, dtype=np.float32)
        results.append((quad, score))
    return results


class ModelHandler:
    """One ``text`` polygon (a quadrilateral) per detected text line."""

    default_threshold = 0.5
    fixed_input_size = (MAX_SIDE, MAX_SIDE)  # a bigger frame is shrunk to MAX_SIDE: JPEGs are decoded reduced

    def __init__(self) -> None:
        self.config = load_function_config(Path(__file__).parent)
        self.label = self.config.labels[0].name
        self.session = onnx_session(weights_path(MODEL_ENV, _default_model()))
        self.input_name = self.session.get_inputs()[0].name

    def infer(self, request: DetectorRequest) -> list[Item]:
        bgr = cv2.cvtColor(to_array(request.image), cv2.COLOR_RGB2BGR)
        height, width = bgr.shape[:2]
        net_h, net_w = _resize_shape(height, width)
        resized = cv2.resize(bgr, (net_w, net_h)).astype(np.float32) / 255.0
        tensor = ((resized - MEAN) / STD).transpose(2, 0, 1)[None]
        probability = self.session.run(None, {self.input_name: tensor})[0][0, 0]
        found = decode_probability_map(probability, request.threshold, (width / net_w, height / net_h))
        items = []
        for quad, score in found:
            quad[:, 0] = np.clip(quad[:, 0], 0, width - 1)
            quad[:, 1] = np.clip(quad[:, 1], 0, height - 1)
            items.append(polygon(self.label, quad, confidence=score))
        return items
