"""face-detection-0205 + age-gender-recognition-retail-0013 + emotions-recognition-retail-0003 (OpenVINO).

Faces come from the FCOS detector; each face crop then gets ``age``, ``gender`` and ``emotion``
attributes, declared in the yaml spec.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from common.detector import DetectorRequest
from common.image import to_array
from common.labels import load_function_config
from common.openvino_model import compile_model
from common.shapes import Item, attribute, rectangle
from common.weights import weights_path

MODELS = "/opt/nuclio/omz"
GENDERS = ("female", "male")
MIN_FACE = 4


def _nchw(bgr: np.ndarray, model: object) -> np.ndarray:
    _, _, height, width = (int(v) for v in model.inputs[0].shape)  # type: ignore[attr-defined]
    return cv2.resize(bgr, (width, height)).transpose(2, 0, 1)[None].astype(np.float32)


class ModelHandler:
    """One ``face`` rectangle per detection, with its attributes."""

    default_threshold = 0.5

    def __init__(self) -> None:
        self.config = load_function_config(Path(__file__).parent)
        face = self.config.labels[0]
        self.label = face.name
        self.emotions = next(a.values for a in face.attributes if a.name == "emotion")
        self.detector = compile_model(weights_path("FACE_DETECTION_MODEL", f"{MODELS}/face-detection-0205.xml"))
        self.age_gender = compile_model(
            weights_path("AGE_GENDER_MODEL", f"{MODELS}/age-gender-recognition-retail-0013.xml")
        )
        self.emotion = compile_model(weights_path("EMOTIONS_MODEL", f"{MODELS}/emotions-recognition-retail-0003.xml"))

    def _attributes(self, face: np.ndarray) -> list[dict[str, str]]:
        age_gender = self.age_gender(_nchw(face, self.age_gender))
        age = float(np.ravel(age_gender[self.age_gender.output("age_conv3")])[0]) * 100
        gender = GENDERS[int(np.argmax(age_gender[self.age_gender.output("prob")]))]
        emotion = self.emotions[int(np.argmax(self.emotion(_nchw(face, self.emotion))[self.emotion.output(0)]))]
        return [
            attribute("age", round(min(150.0, max(0.0, age)))),
            attribute("gender", gender),
            attribute("emotion", emotion),
        ]

    def infer(self, request: DetectorRequest) -> list[Item]:
        bgr = cv2.cvtColor(to_array(request.image), cv2.COLOR_RGB2BGR)
        height, width = bgr.shape[:2]
        _, _, net_h, net_w = (int(v) for v in self.detector.inputs[0].shape)
        boxes = self.detector(_nchw(bgr, self.detector))[self.detector.output("boxes")].reshape(-1, 5)
        items = []
        for x1, y1, x2, y2, score in boxes:
            if score < request.threshold:
                continue
            box = np.array([x1 * width / net_w, y1 * height / net_h, x2 * width / net_w, y2 * height / net_h])
            box = box.clip(0, [width - 1, height - 1, width - 1, height - 1])
            left, top, right, bottom = (int(v) for v in box)
            if right - left < MIN_FACE or bottom - top < MIN_FACE:
                continue
            attributes = self._attributes(bgr[top : bottom + 1, left : right + 1])
            items.append(rectangle(self.label, box, confidence=float(score), attributes=attributes))
        return items
