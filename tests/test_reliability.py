"""Reliability under arbitrary input (issue 13): hypothesis fuzzing with bounded, derandomized examples.

(a) The function library's request parsers: whatever JSON values arrive, only :class:`FunctionError`
    subclasses (mapped to 4xx/5xx answers by ``common.handling``) may escape.
(b) The gateway's routes over a running local stack: arbitrary JSON bodies, ids and query
    parameters never give a 5xx and always answer a JSON body.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pytest
from gateway_support import FIXTURES, noise, write_images
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common import detector, fields, interactor, reid, tracker
from common.errors import FunctionError
from common.image import encode_image
from common.labels import parse_function_config
from cvat_serverless.stack import LocalStack

ADMIN = ("admin", "admin")
DETECTOR = "test-lambda-detector"
IMAGE = encode_image(np.zeros((24, 32, 3), np.uint8))
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
FUZZ_HTTP = settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

# Field names the parsers and routes look for: fuzzed dicts use them as keys far more often than chance would.
NAMES = [
    "image", "image0", "image1", "threshold", "max_distance", "pos_points", "neg_points", "obj_bbox", "text_prompts",
    "shapes", "states", "boxes0", "boxes1", "type", "points", "name", "labels", "attributes", "sublabels", "values",
    "segment_size", "overlap", "owner_id", "assignee_id", "image_quality", "chunk_size", "start_frame", "stop_frame",
    "frame_filter", "server_files", "upload_file_order", "sorting_method", "tags", "tracks", "id", "label_id",
    "frame", "group", "source", "occluded", "outside", "z_order", "rotation", "elements", "version", "function",
    "task", "job", "mapping", "cleanup", "conv_mask_to_poly", "roi", "quality", "frame0", "frame1", "task_id",
    "frame_selection_method", "frame_count", "frames", "random_seed", "spec_id", "value", "state", "stage",
]  # fmt: skip
TRICKY_TEXT = ["²", "٣", "1e400", "-1", "0", "1", "9223372036854775808", "..", "a\x00b", "", " ", "NaN", "car", IMAGE]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=40)
    | st.integers()
    | st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 10**400])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(TRICKY_TEXT)
    | st.text(max_size=12)
)
keys = st.sampled_from(NAMES) | st.text(max_size=6)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5), max_leaves=16
)
bodies = st.dictionaries(keys, json_values, max_size=8)


def shaped(required: dict[str, Any], optional: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects that look right at first sight (their required keys are sane) and hold fuzz elsewhere."""
    return st.fixed_dictionaries(required, optional={key: json_values for key in optional})


labels = st.lists(
    shaped({"name": st.sampled_from(["car", "person", "x"])}, ["attributes", "sublabels", "type", "color", "svg"]),
    max_size=3,
)
annotation = shaped(
    {"frame": st.integers(0, 3), "label_id": st.integers(0, 50)},
    ["id", "type", "points", "attributes", "elements", "shapes", "group", "source", "z_order", "rotation", "score"],
)
annotation_bodies = st.fixed_dictionaries(
    {}, optional={"shapes": st.lists(annotation, max_size=3), "tags": st.lists(annotation, max_size=2),
                  "tracks": st.lists(annotation, max_size=2), "version": json_values},
)  # fmt: skip
ids = st.integers(min_value=-2, max_value=5).map(str) | st.sampled_from(TRICKY_TEXT) | st.text(max_size=8)


def _config(kind: str) -> Any:
    spec = json.dumps([{"id": 0, "name": "car"}])
    return parse_function_config({"metadata": {"name": "fn", "annotations": {"type": kind, "spec": spec}}})


TRACKER = _config("tracker")


def only_function_errors(parse: Any, body: Any) -> None:
    with contextlib.suppress(FunctionError):
        parse(body)


# --- (a) the function library's parsers -------------------------------------------------------------


def with_image(body: dict[str, Any], *names: str) -> dict[str, Any]:
    """Most bodies get a real image (so the parsers get past it); some keep whatever was drawn."""
    return {**{name: IMAGE for name in names if name not in body}, **body}


@FUZZ
@given(body=bodies)
def test_detector_parser_raises_only_function_errors(body: dict[str, Any]) -> None:
    only_function_errors(lambda b: detector.parse_request(b, default_threshold=0.5), with_image(body, "image"))


@FUZZ
@given(body=bodies, rules=st.sampled_from([{}, {"box_required": True}, {"box_or_points": True, "min_pos_points": 2}]))
def test_interactor_parser_raises_only_function_errors(body: dict[str, Any], rules: dict[str, Any]) -> None:
    parsed_rules = interactor.InteractorRules(**rules)
    only_function_errors(lambda b: interactor.parse_request(b, parsed_rules), with_image(body, "image"))


@FUZZ
@given(body=bodies)
def test_tracker_parser_raises_only_function_errors(body: dict[str, Any]) -> None:
    only_function_errors(lambda b: tracker.parse_request(b, TRACKER), with_image(body, "image"))


@FUZZ
@given(body=bodies)
def test_reid_parser_raises_only_function_errors(body: dict[str, Any]) -> None:
    only_function_errors(reid.parse_request, with_image(body, "image0", "image1"))


@FUZZ
@given(value=json_values, size=st.sampled_from([None, (32, 24), (1, 1)]))
def test_field_readers_raise_only_function_errors(value: Any, size: tuple[int, int] | None) -> None:
    body = {"x": value}
    only_function_errors(lambda b: fields.number(b, "x", None, low=0.0, high=1.0), body)
    only_function_errors(lambda b: fields.threshold(b, 0.5), {"threshold": value})
    only_function_errors(lambda b: fields.point_list(b, "x", size=size or (32, 24), max_points=8), body)
    only_function_errors(lambda b: fields.box(b["x"], "x", size=size), body)
    only_function_errors(lambda b: fields.object_list(b, "x", max_items=4), body)
    only_function_errors(lambda b: fields.coordinate(b["x"], "x"), body)


# --- (b) the gateway's routes over a running stack ---------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    root = tmp_path_factory.mktemp("reliability")
    write_images(root / "share" / "good", [noise(i, (12, 16)) for i in range(3)])
    with LocalStack(folders=[FIXTURES / "lambda_detector"], data_dir=root / "data", share_dir=root / "share").running(
        300
    ) as local:
        yield local


@pytest.fixture(scope="module")
def http(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, auth=ADMIN, timeout=60) as session:
        yield session


@pytest.fixture(scope="module")
def task_id(http: httpx.Client) -> int:
    created = http.post("/api/tasks", json={"name": "fuzz", "labels": [{"name": "car"}, {"name": "person"}]})
    task = created.json()["id"]
    answer = http.post(f"/api/tasks/{task}/data", json={"server_files": ["good/"], "image_quality": 70})
    assert answer.status_code == 202
    return int(task)


def send(http: httpx.Client, method: str, path: str, body: Any = None) -> httpx.Response:
    content = None if body is None else json.dumps(body, allow_nan=True)  # NaN/Infinity: JSON Python reads
    return checked(http.request(method, path, content=content, headers={"Content-Type": "application/json"}), body)


def checked(answer: httpx.Response, body: Any = None) -> httpx.Response:
    """No 5xx; every error (but TUS's bodyless 409 for a wrong offset, as in CVAT), and every answer that says
    it is JSON, is JSON."""
    request = answer.request
    assert answer.status_code < 500, (request.method, str(request.url), body, answer.status_code, answer.text[:500])
    tus_offset = request.method == "PATCH" and answer.status_code == 409 and "upload-offset" in request.headers
    if tus_offset:
        assert answer.content == b""
    elif answer.status_code >= 400 or answer.headers.get("content-type", "").startswith("application/json"):
        answer.json()
    return answer


def fill(body: dict[str, Any], task: int) -> dict[str, Any]:
    """Point ``task`` at the fixture task in most bodies, so the route gets past its lookup."""
    return {"task": task, **body} if "task" not in body else body


@FUZZ_HTTP
@given(body=bodies, labels=labels)
def test_task_creation_never_fails_with_5xx(http: httpx.Client, body: dict[str, Any], labels: Any) -> None:
    send(http, "POST", "/api/tasks", body)
    send(http, "POST", "/api/tasks", {"name": "t", **body, "labels": labels})


@FUZZ_HTTP
@given(body=bodies)
def test_task_data_never_fails_with_5xx(http: httpx.Client, body: dict[str, Any]) -> None:
    created = send(http, "POST", "/api/tasks", {"name": "d", "labels": [{"name": "car"}]}).json()["id"]
    send(http, "POST", f"/api/tasks/{created}/data", body)
    send(http, "POST", f"/api/tasks/{created}/data", body | {"server_files": body.get("server_files", ["good/"])})


@FUZZ_HTTP
@given(body=bodies | annotation_bodies, action=st.sampled_from(["create", "update", "delete", "put", "", "x"]))
def test_annotation_changes_never_fail_with_5xx(
    http: httpx.Client, task_id: int, body: dict[str, Any], action: str
) -> None:
    if action == "put":
        send(http, "PUT", f"/api/tasks/{task_id}/annotations", body)
    else:
        send(http, "PATCH", f"/api/tasks/{task_id}/annotations?action={action}", body)
    send(http, "GET", f"/api/tasks/{task_id}/annotations")


@FUZZ_HTTP
@given(body=bodies)
def test_task_and_job_updates_never_fail_with_5xx(http: httpx.Client, task_id: int, body: dict[str, Any]) -> None:
    send(http, "PATCH", f"/api/tasks/{task_id}", body)
    send(http, "POST", "/api/jobs", body | {"task_id": body.get("task_id", task_id)})


@FUZZ_HTTP
@given(body=bodies | shaped({}, ["stage", "state", "assignee"]), action=st.sampled_from(["create", "update", "put"]))
def test_job_changes_never_fail_with_5xx(http: httpx.Client, task_id: int, body: dict[str, Any], action: str) -> None:
    job = send(http, "GET", f"/api/jobs?task_id={task_id}").json()["results"][0]["id"]
    send(http, "PATCH", f"/api/jobs/{job}", body)
    if action == "put":
        send(http, "PUT", f"/api/jobs/{job}/annotations", body)
    else:
        send(http, "PATCH", f"/api/jobs/{job}/annotations?action={action}", body)


@FUZZ_HTTP
@given(body=bodies | shaped({}, ["username", "email", "password", "password1", "password2", "first_name"]))
def test_auth_bodies_never_fail_with_5xx(stack: LocalStack, body: dict[str, Any]) -> None:
    for path in ("/api/auth/login", "/api/auth/register"):
        content = json.dumps(body, allow_nan=True)
        checked(httpx.post(stack.gateway_url + path, content=content, headers={"Content-Type": "application/json"}))


@FUZZ_HTTP
@given(
    body=bodies | shaped({"frame": st.integers(-1, 4) | scalars}, ["mapping", "threshold", "roi", "conv_mask_to_poly"])
)
def test_online_calls_never_fail_with_5xx(http: httpx.Client, task_id: int, body: dict[str, Any]) -> None:
    send(http, "POST", f"/api/lambda/functions/{DETECTOR}", fill(body, task_id))


@FUZZ_HTTP
@given(body=bodies)
def test_lambda_requests_never_fail_with_5xx(http: httpx.Client, task_id: int, body: dict[str, Any]) -> None:
    answer = send(http, "POST", "/api/lambda/requests", fill(body, task_id) | {"function": DETECTOR})
    if answer.status_code == 200:
        send(http, "DELETE", f"/api/lambda/requests/{answer.json()['id']}")


@FUZZ_HTTP
@given(value=ids, kind=st.sampled_from(["frame", "chunk", "x"]))
def test_ids_and_query_parameters_never_fail_with_5xx(http: httpx.Client, task_id: int, value: str, kind: str) -> None:
    quoted = quote(value, safe="")
    for path in (
        f"/api/tasks/{quoted}",
        f"/api/jobs/{quoted}",
        f"/api/tasks/{quoted}/annotations",
        f"/api/jobs/{quoted}/annotations",
        f"/api/labels?task_id={quoted}",
        f"/api/labels?job_id={quoted}",
        f"/api/jobs?task_id={quoted}",
        f"/api/tasks/{task_id}/data?type={kind}&number={quoted}",
        f"/api/lambda/requests/{quoted}",
        f"/api/requests/{quoted}",
    ):
        send(http, "GET", path)


header_text = st.sampled_from(TRICKY_TEXT[:-1]) | st.text(st.characters(max_codepoint=255), max_size=24)


def wire(text: str) -> bytes:
    """A header value as it can travel (latin-1, no control bytes, no edge spaces): "²" stays "²"."""
    return "".join(c if 32 <= ord(c) < 256 and c != "\x7f" else "?" for c in text).strip().encode("latin-1")


upload_names = st.sampled_from(["a.png", "..", ".hidden", "a\x00b", "../x.png", "", "x" * 300]) | st.text(max_size=20)


@FUZZ_HTTP
@given(
    length=header_text,
    name=upload_names,
    raw_metadata=st.none() | header_text,
    offset=header_text,
    chunk=st.binary(max_size=64),
)
def test_upload_headers_and_names_never_fail_with_5xx(
    http: httpx.Client, length: str, name: str, raw_metadata: str | None, offset: str, chunk: bytes
) -> None:
    task = send(http, "POST", "/api/tasks", {"name": "u", "labels": [{"name": "car"}]}).json()["id"]
    url = f"/api/tasks/{task}/data"
    encoded = base64.b64encode(name.encode("utf-8", "surrogatepass")).decode()
    metadata = raw_metadata if raw_metadata is not None else f"filename {encoded}"
    headers = {"Tus-Resumable": b"1.0.0", "Upload-Length": wire(length), "Upload-Metadata": wire(metadata)}
    created = checked(http.post(url, headers=headers))
    if created.status_code == 201:
        patch = {"Tus-Resumable": b"1.0.0", "Upload-Offset": wire(offset)}
        checked(http.patch(created.headers["Location"], content=chunk, headers=patch))
    files = [("client_files[0]", (name, chunk, "image/png"))]
    checked(http.post(url, headers={"Upload-Multiple": "true"}, files=files))
    finish = {"image_quality": 70, "upload_file_order": [name]}
    checked(http.post(url, json=finish, headers={"Upload-Finish": "true"}))


def test_the_fuzzed_stack_still_works(http: httpx.Client, task_id: int) -> None:
    """After every fuzzed request, the fixture task still serves a normal call."""
    answer = send(http, "POST", f"/api/lambda/functions/{DETECTOR}", {"task": task_id, "frame": 0})
    assert answer.status_code == 200 and "shapes" in answer.json()
