"""Device selection shared by the model handlers (CUDA when present, CPU otherwise).

Imports of torch / onnxruntime happen inside the functions: a function that uses neither
does not pay for them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

DEVICE_ENV = "CVAT_FN_DEVICE"


def torch_device(environ: Mapping[str, str] | None = None) -> Any:
    """``torch.device`` from ``$CVAT_FN_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``) or auto-selected."""
    import torch

    env = os.environ if environ is None else environ
    wanted = env.get(DEVICE_ENV, "").strip()
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def onnx_providers(environ: Mapping[str, str] | None = None) -> list[str]:
    """onnxruntime providers: CUDA first when the installed build offers it (unless ``CVAT_FN_DEVICE=cpu``)."""
    import onnxruntime

    env = os.environ if environ is None else environ
    available = onnxruntime.get_available_providers()
    if env.get(DEVICE_ENV, "").strip() != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def onnx_session(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` on :func:`onnx_providers`."""
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=onnx_providers(environ))
