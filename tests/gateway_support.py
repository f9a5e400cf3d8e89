"""Shared helpers for the gateway tests: a running local stack and a logged-in cvat-sdk client."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from cvat_sdk import Client
from cvat_sdk.api_client import exceptions, models
from PIL import Image

FIXTURES = Path(__file__).parent / "fixtures" / "functions"
SERVERLESS = Path(__file__).resolve().parents[1] / "serverless"


def write_images(folder: Path, arrays: Sequence[np.ndarray], prefix: str = "img") -> list[Path]:
    """Save arrays as PNG files ``img0.png, img1.png, ...`` and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, array in enumerate(arrays):
        path = folder / f"{prefix}{index}.png"
        Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def noise(seed: int, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)


def create_task(client: Client, tmp_path: Path, arrays: list[np.ndarray], labels: list[dict[str, Any]]) -> Any:
    files = write_images(tmp_path / "upload", arrays)
    return client.tasks.create_from_data(spec={"name": "t", "labels": labels}, resources=[str(f) for f in files])


def online(client: Client, func_id: str, **body: Any) -> tuple[int, Any]:
    try:
        _, response = client.api_client.lambda_api.create_functions(func_id, online_function_call_request=body)
    except exceptions.ApiException as error:
        return error.status, json.loads(error.body)
    return response.status, json.loads(response.data)


def wait_request(client: Client, rq_id: str, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        call, _ = client.api_client.lambda_api.retrieve_requests(rq_id)
        if call.status in ("finished", "failed") or time.monotonic() > deadline:
            return call
        time.sleep(0.1)


def submit(client: Client, **params: Any) -> Any:
    call, _ = client.api_client.lambda_api.create_requests(models.FunctionCallRequest(**params))
    return call
