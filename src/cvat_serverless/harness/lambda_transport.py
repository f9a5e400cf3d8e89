"""The harness's third way to reach a function: CVAT's lambda API, driven with the cvat-sdk client.

``lambda`` starts the local stack (processor + dashboard + gateway) for the folder; ``cvat`` targets
a real CVAT named by ``CVAT_HOST``/``CVAT_USER``/``CVAT_PASSWORD`` whose functions are deployed.
Each call turns the function-level request of a case into what CVAT's UI would do: a task made
of the request's images, an online call on its frames and, for detectors, a whole-task request
whose saved annotations must equal the online answer. The answer is turned back into the
function-level shape (label names, function-side masks) so the case's own check runs unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from common.labels import FunctionConfig, LabelSpec, load_function_config
from cvat_serverless.exports import LabelNames
from cvat_serverless.harness import cvat_core

REAL_CVAT_ENV = ("CVAT_HOST", "CVAT_USER", "CVAT_PASSWORD")
REQUEST_TIMEOUT_S = 300.0


class NotExpressible(Exception):
    """A function-level request CVAT's API cannot express (the case is skipped with this reason)."""


def task_labels(labels: tuple[LabelSpec, ...]) -> list[dict[str, Any]]:
    """Task labels equal to a function's spec, so CVAT's default mapping pairs every label by name."""
    result = []
    for label in labels:
        item: dict[str, Any] = {
            "name": label.name,
            "type": label.type,
            "attributes": [
                {"name": a.name, "mutable": False, "input_type": a.input_type, "values": list(a.values)}
                for a in label.attributes
            ],
        }
        if label.type == "skeleton":
            item["sublabels"] = task_labels(label.sublabels)
            item["svg"] = label.svg
        result.append(item)
    return result


def _decode_images(values: list[Any]) -> list[bytes]:
    images = []
    for value in values:
        if not isinstance(value, str):
            raise NotExpressible("the request carries a non-string image; CVAT sends stored frame bytes")
        try:
            images.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise NotExpressible("the request carries an image that is not base64") from None
    return images


class LambdaClient:
    """A :class:`~cvat_serverless.harness.transports.FunctionClient` over CVAT's lambda API."""

    def __init__(self, function_dir: Path, env: Mapping[str, str], *, real_cvat: bool = False) -> None:
        from cvat_sdk import make_client

        self.config: FunctionConfig = load_function_config(function_dir, environ=env)
        self.workdir = Path(tempfile.mkdtemp(prefix="cvat-lambda-harness-"))
        self.stack = None
        self.real_cvat = real_cvat
        if real_cvat:
            host, user, password = (os.environ[name] for name in REAL_CVAT_ENV)
        else:
            from cvat_serverless.stack import LocalStack

            self.stack = LocalStack(
                folders=[function_dir], data_dir=self.workdir / "data", env=dict(env), num_workers=1
            )
            failures = self.stack.start(600)
            if failures:
                self.stack.stop()
                raise RuntimeError(f"function failed to start: {failures}")
            host, user, password = self.stack.gateway_url, "admin", "admin"
        self.client = make_client(host, credentials=(user, password))
        self.client.config.status_check_period = 0.05
        self._calls = 0

    def close(self) -> None:
        self.client.close()
        if self.stack is not None:
            self.stack.stop()

    def _task(self, images: list[bytes]) -> Any:
        self._calls += 1
        folder = self.workdir / f"call{self._calls}"
        folder.mkdir(parents=True)
        files = []
        for index, raw in enumerate(images):
            path = folder / f"frame{index}.{_suffix(raw)}"
            path.write_bytes(raw)
            files.append(str(path))
        spec = {"name": f"harness {self.config.name} #{self._calls}", "labels": task_labels(self.config.labels)}
        return self.client.tasks.create_from_data(
            spec=spec, resources=files, data_params={"sorting_method": "predefined"}
        )

    def _online(self, payload: Mapping[str, Any]) -> tuple[int, Any]:
        from cvat_sdk.api_client import exceptions

        try:
            _, response = self.client.api_client.lambda_api.create_functions(
                self.config.name, online_function_call_request=dict(payload)
            )
        except exceptions.ApiException as error:
            return error.status, _error_body(_json(error.body), real_cvat=self.real_cvat)
        return response.status, _json(response.data)

    def call(self, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
        try:
            request = json.loads(body)
        except ValueError:
            raise NotExpressible("CVAT always sends JSON; raw bodies are tested by the other transports") from None
        if not isinstance(request, dict):
            raise NotExpressible("CVAT always sends a JSON object")
        status, answer = getattr(self, f"_{self.config.kind}")(request)
        return status, json.dumps(answer).encode()

    def _only(self, request: Mapping[str, Any], allowed: set[str]) -> None:
        extra = set(request) - allowed
        if extra:
            raise NotExpressible(f"CVAT's lambda API does not forward {sorted(extra)} to a {self.config.kind}")

    def _detector(self, request: Mapping[str, Any]) -> tuple[int, Any]:
        self._only(request, {"image", "threshold"})
        if "threshold" in request and not request["threshold"]:
            raise NotExpressible("CVAT forwards a threshold only when it is truthy (0 is dropped)")
        (raw,) = _decode_images([request.get("image")])
        task = self._task([raw])
        payload = {"task": task.id, "frame": 0, "threshold": request.get("threshold")}
        status, answer = self._online({k: v for k, v in payload.items() if v is not None})
        if status != 200:
            return status, answer
        self._check_whole_task_request(task, answer, request.get("threshold"))
        names = LabelNames(_labels(task))
        meta = task.get_meta().frames[0]
        size = (meta.height, meta.width)
        # CVAT 2.73 never reads a detector's confidence (every saved score is 1): a real CVAT cannot tell it.
        shapes = [names.function_item(s, size, with_confidence=not self.real_cvat) for s in answer["shapes"]]
        if any(s["type"] == "mask" for s in shapes):
            # The function's own polygons, as CVAT stores them with conv_mask_to_poly.
            _, polygons = self._online({**payload, "conv_mask_to_poly": True})
            for shape, polygon in zip(shapes, polygons["shapes"], strict=True):
                if shape["type"] == "mask" and polygon["type"] == "polygon":
                    shape["points"] = polygon["points"]
        return 200, shapes + [
            {"label": names.labels[t["label_id"]], "type": "tag", "attributes": []} for t in answer["tags"]
        ]

    def _check_whole_task_request(self, task: Any, online: Mapping[str, Any], threshold: Any) -> None:
        from cvat_sdk.api_client import models

        params: dict[str, Any] = {"function": self.config.name, "task": task.id, "cleanup": True}
        if threshold is not None:
            params["threshold"] = float(threshold)
        call, _ = self.client.api_client.lambda_api.create_requests(models.FunctionCallRequest(**params))
        deadline = time.monotonic() + REQUEST_TIMEOUT_S
        while call.status not in ("finished", "failed"):
            assert time.monotonic() < deadline, f"request {call.id} did not finish"
            time.sleep(0.05)
            call, _ = self.client.api_client.lambda_api.retrieve_requests(call.id)
        assert call.status == "finished", f"whole-task request failed: {call.exc_info}"
        saved = task.get_annotations()
        assert len(saved.shapes) == len(online["shapes"]) and len(saved.tags) == len(online["tags"]), (
            f"whole-task request saved {len(saved.shapes)} shapes, the online call answered {len(online['shapes'])}"
        )
        for stored, answered in zip(saved.shapes, online["shapes"], strict=True):
            assert stored.label_id == answered["label_id"] and np.allclose(stored.points, answered["points"]), (
                "whole-task request and online call disagree"
            )

    def _interactor(self, request: Mapping[str, Any]) -> tuple[int, Any]:
        self._only(request, {"image", "pos_points", "neg_points", "obj_bbox", "threshold"})
        if "pos_points" not in request:
            raise NotExpressible("CVAT's interactor calls always carry pos_points (image-only requests are direct)")
        (raw,) = _decode_images([request.get("image")])
        task = self._task([raw])
        payload = {k: v for k, v in request.items() if k != "image"}
        payload.setdefault("neg_points", [])
        status, answer = self._online({"task": task.id, "frame": 0, **payload})
        if status == 200:
            meta = task.get_meta().frames[0]
            self._check_region_of_interest(task, payload, answer, meta.width, meta.height)
        return status, answer

    def _check_region_of_interest(
        self, task: Any, payload: Mapping[str, Any], full: Any, width: int, height: int
    ) -> None:
        """The same prompts with CVAT's ``roi`` around them (what the UI sends when a region is selected):
        the answer must come back in frame coordinates, inside the region, in the same form."""
        roi = _region_around(payload, width, height)
        if roi is None:
            return
        status, answer = self._online({"task": task.id, "frame": 0, **payload, "roi": roi})
        assert status == 200, f"the same call with roi {roi} failed: {status} {answer!r:.300}"
        if isinstance(full, dict) and "blob" in full:
            assert isinstance(answer, dict) and isinstance(answer.get("blob"), str), "roi: expected the blob again"
            return
        xtl, ytl, xbr, ybr = roi
        for mask in cvat_core.place(answer, width, height):
            outside = mask.bitmap.copy()
            outside[ytl:ybr, xtl:xbr] = False
            assert not outside.any(), f"roi {roi}: {int(outside.sum())} mask pixels land outside the region"

    def _tracker(self, request: Mapping[str, Any]) -> tuple[int, Any]:
        self._only(request, {"image", "shapes", "states", "threshold"})
        (raw,) = _decode_images([request.get("image")])
        declared = self.config.annotations.get("supported_shape_types")
        payload = {k: v for k, v in request.items() if k != "image"}
        if not declared and isinstance(payload.get("shapes"), list):
            payload["shapes"] = [
                None if s is None else {"type": "rectangle", "points": s} if isinstance(s, list) else s
                for s in payload["shapes"]
            ]
        task = self._task([raw])
        status, answer = self._online({"task": task.id, "frame": 0, **payload})
        if status == 200 and not declared:
            answer["shapes"] = [None if s is None else s["points"] for s in answer["shapes"]]
        return status, answer

    def _reid(self, request: Mapping[str, Any]) -> tuple[int, Any]:
        self._only(request, {"image0", "image1", "boxes0", "boxes1", "threshold", "max_distance"})
        if not request.get("boxes0") or not request.get("boxes1"):
            raise NotExpressible("CVAT answers [] without calling a ReID function when a box list is empty")
        images = _decode_images([request.get("image0"), request.get("image1")])
        task = self._task(images)
        payload = {k: v for k, v in request.items() if k not in ("image0", "image1")}
        return self._online({"task": task.id, "frame0": 0, "frame1": 1, **payload})


def _region_around(payload: Mapping[str, Any], width: int, height: int) -> list[int] | None:
    """A region of interest around every click and the box, padded by a fifth of the frame; None when it
    would be the whole frame (then a roi tells nothing)."""
    points = [*(payload.get("pos_points") or []), *(payload.get("neg_points") or [])]
    box = payload.get("obj_bbox")
    if box:
        points += [list(box[0]), list(box[1])] if isinstance(box[0], list) else [box[:2], box[2:4]]
    if not points:
        return None
    xs, ys = [float(p[0]) for p in points], [float(p[1]) for p in points]
    pad_x, pad_y = width // 5, height // 5
    roi = [
        max(0, int(min(xs)) - pad_x),
        max(0, int(min(ys)) - pad_y),
        min(width, int(max(xs)) + 1 + pad_x),
        min(height, int(max(ys)) + 1 + pad_y),
    ]
    return None if roi == [0, 0, width, height] else roi


HIDDEN_BY_CVAT = re.compile(r"^\d{3} (Client|Server) Error: .* for url: ")


def _error_body(body: Any, *, real_cvat: bool) -> Any:
    """CVAT 2.73's lambda views (and the gateway, as they) answer an error as a bare JSON string, or
    DRF's list of them; read as ``{"error": text}``. A function's own 4xx body never reaches a real
    CVAT's client at all: CVAT answers requests' message (``400 Client Error: Bad Request for url:
    ...``), marked here so the checks know the function's words are gone (the gateway passes them on)."""
    if isinstance(body, dict):
        return body
    text = "; ".join(str(item) for item in body) if isinstance(body, list) else str(body)
    return {"error": text, "function_message_hidden_by_cvat": real_cvat and bool(HIDDEN_BY_CVAT.match(text))}


def _labels(task: Any) -> list[dict[str, Any]]:
    return [label.to_dict() for label in task.get_labels()]


def _json(raw: Any) -> Any:
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return None


def _suffix(raw: bytes) -> str:
    if raw.startswith(b"\x89PNG"):
        return "png"
    if raw.startswith(b"\xff\xd8"):
        return "jpg"
    if raw[:4] in (b"II*\x00", b"MM\x00*"):
        return "tif"
    if raw.startswith(b"BM"):
        return "bmp"
    if raw.startswith(b"RIFF") and raw[8:12] == b"WEBP":
        return "webp"
    if raw.startswith(b"GIF8"):
        return "gif"
    raise NotExpressible("the image format cannot be uploaded as a CVAT task frame")


class LambdaTransport:
    """Through the local stack's lambda API with cvat-sdk."""

    name = "lambda"

    def unavailable(self) -> str | None:
        return None

    def open(self, function_dir: Path, env: Mapping[str, str]) -> LambdaClient:
        return LambdaClient(function_dir, env)


class RealCvatTransport:
    """Through a real CVAT's lambda API (functions deployed there); skipped without ``CVAT_HOST``."""

    name = "cvat"

    def unavailable(self) -> str | None:
        missing = [name for name in REAL_CVAT_ENV if not os.environ.get(name)]
        return f"set {', '.join(missing)} to run the harness against a real CVAT" if missing else None

    def open(self, function_dir: Path, env: Mapping[str, str]) -> LambdaClient:
        return LambdaClient(function_dir, env, real_cvat=True)
