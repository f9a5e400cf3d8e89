"""The one OpenVINO loader every OpenVINO function uses (current ``openvino`` API).

Settings come from the environment (set in function.yaml ``spec.env``):

- ``CVAT_FN_OV_DEVICE``: OpenVINO device, default ``CPU``;
- ``CVAT_FN_OV_PRECISION``: ``INFERENCE_PRECISION_HINT`` (``f32`` for comparable outputs; by default
  OpenVINO picks bf16 on CPUs with avx512_bf16, which shifts outputs);
- ``CVAT_FN_OV_STREAMS``: ``NUM_STREAMS`` (e.g. ``1`` when the yaml runs several worker processes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.errors import InvalidFunctionConfig


@dataclass(frozen=True, kw_only=True)
class OpenVinoSettings:
    """How to compile a model."""

    device: str = "CPU"
    precision: str | None = None
    streams: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OpenVinoSettings:
        """Read ``CVAT_FN_OV_DEVICE``, ``CVAT_FN_OV_PRECISION``, ``CVAT_FN_OV_STREAMS``."""
        env = os.environ if environ is None else environ
        return cls(
            device=env.get("CVAT_FN_OV_DEVICE", "CPU") or "CPU",
            precision=env.get("CVAT_FN_OV_PRECISION") or None,
            streams=env.get("CVAT_FN_OV_STREAMS") or None,
        )

    def properties(self) -> dict[str, str]:
        """The ``compile_model`` config dict."""
        config: dict[str, str] = {}
        if self.precision:
            config["INFERENCE_PRECISION_HINT"] = self.precision
        if self.streams:
            config["NUM_STREAMS"] = self.streams
        return config


def compile_model(path: str | os.PathLike[str], settings: OpenVinoSettings | None = None) -> Any:
    """Read an IR (.xml next to its .bin) or ONNX file and compile it; returns ``CompiledModel``."""
    import openvino

    settings = settings or OpenVinoSettings.from_env()
    if not os.path.exists(path):
        raise InvalidFunctionConfig(f"OpenVINO model not found at {str(path)!r}")
    core = openvino.Core()
    return core.compile_model(core.read_model(str(path)), settings.device, settings.properties())


def nhwc_input(rgb: Any, model: Any, index: int = 0) -> Any:
    """An RGB image resized to the model's NHWC input ``index`` as a 1×H×W×3 float32 BGR batch."""
    import cv2
    import numpy as np

    _, height, width, _ = (int(v) for v in model.inputs[index].shape)
    bgr = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)
    return cv2.resize(bgr, (width, height))[None].astype(np.float32)


def nhwc_size(model: Any, index: int = 0) -> tuple[int, int]:
    """The (width, height) of a static NHWC input ``index``: a detector's ``fixed_input_size``."""
    _, height, width, _ = (int(v) for v in model.inputs[index].shape)
    return width, height


def detection_rows(output: Any, threshold: float) -> list[tuple[int, float, tuple[float, float, float, float]]]:
    """Rows of a DetectionOutput (``[image_id, label, conf, x0, y0, x1, y1]``, normalised boxes) above
    ``threshold``, as ``(label, confidence, box)``; a negative image id ends the list."""
    import numpy as np

    rows = np.asarray(output, dtype=np.float32).reshape(-1, 7)
    found = []
    for image_id, label, confidence, x0, y0, x1, y1 in rows:
        if image_id < 0:
            break
        if confidence >= threshold:
            found.append((int(label), float(confidence), (float(x0), float(y0), float(x1), float(y1))))
    return found
