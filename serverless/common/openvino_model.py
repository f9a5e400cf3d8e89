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
