"""Issue 13's attacks on the task API, one test per hole: each failed before its fix.

Upload limits that count streamed bytes (9), server files that must stay in the share (10), sessions
and API keys that cannot stand in for each other plus Django's 403 for CSRF (12), Redis down is a 503
(13), one integer parser for every route (14) and task data creation that is all or nothing (17).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_support import FIXTURES, noise, write_images

from cvat_serverless.gateway.tasks_api import UPLOAD_LIMIT
from cvat_serverless.harness.redis_server import RedisServer, redis_server_binary
from cvat_serverless.stack import LocalStack

ADMIN = ("admin", "admin")
DETECTOR = "test-lambda-detector"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    root = tmp_path_factory.mktemp("adversary")
    share = root / "share"
    write_images(share / "good", [noise(i, (12, 16)) for i in range(3)])
    write_images(root / "outside", [noise(9, (12, 16))], prefix="secret")
    (share / "linked").mkdir()
    write_images(share / "linked", [noise(5, (12, 16))])
    os.symlink(root / "outside" / "secret0.png", share / "linked" / "zz.png")
    with LocalStack(folders=[FIXTURES / "lambda_detector"], data_dir=root / "data", share_dir=share).running(
        300
    ) as local:
        yield local


@pytest.fixture(scope="module")
def http(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, auth=ADMIN, timeout=120) as session:
        yield session


def new_task(http: httpx.Client, **extra: Any) -> int:
    created = http.post("/api/tasks", json={"name": "t", "labels": [{"name": "car"}], **extra})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def upload_dir(stack: LocalStack, task_id: int) -> Path:
    return stack.data_dir / "tasks" / str(task_id) / "upload"


def leftovers(stack: LocalStack, task_id: int) -> list[str]:
    folder = stack.data_dir / "tasks" / str(task_id)
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def request_of(http: httpx.Client, answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 202, answer.text
    return http.get(f"/api/requests/{answer.json()['rq_id']}").json()


# --- 9: upload limits count the bytes that stream in --------------------------------------------


def test_chunked_multipart_past_the_limit_is_413_and_leaves_nothing(stack: LocalStack, http: httpx.Client) -> None:
    task_id = new_task(http)
    boundary = "adversary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="client_files[0]"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    block = b"\0" * (1024 * 1024)

    def body() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        yield head
        for _ in range(UPLOAD_LIMIT // len(block) + 4):
            yield block
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {"Upload-Multiple": "true", "Content-Type": f"multipart/form-data; boundary={boundary}"}
    try:
        answer = http.post(f"/api/tasks/{task_id}/data", content=body(), headers=headers)
        assert answer.status_code == 413 and "limit" in answer.json()["error"]
    except httpx.TransportError:  # the server may close the connection right after its 413
        pass
    assert leftovers(stack, task_id) == []


def test_tus_upload_longer_than_the_limit_is_413(stack: LocalStack, http: httpx.Client) -> None:
    task_id = new_task(http)
    name = base64.b64encode(b"big.png").decode()
    headers = {"Tus-Resumable": "1.0.0", "Upload-Length": str(UPLOAD_LIMIT + 1), "Upload-Metadata": f"filename {name}"}
    answer = http.post(f"/api/tasks/{task_id}/data", headers=headers)
    assert answer.status_code == 413 and "limit" in answer.json()["error"]
    assert leftovers(stack, task_id) == []
    # the limit is per task: what already waits in the upload folder counts
    upload_dir(stack, task_id).mkdir(parents=True, exist_ok=True)
    (upload_dir(stack, task_id) / "first.png").write_bytes(b"\0" * (UPLOAD_LIMIT - 10))
    headers["Upload-Length"] = "11"
    assert http.post(f"/api/tasks/{task_id}/data", headers=headers).status_code == 413
    more = http.post(
        f"/api/tasks/{task_id}/data",
        headers={"Upload-Multiple": "true"},
        files=client_files(("b.png", b"x" * (2 << 20))),
    )
    assert more.status_code == 413 and sorted(p.name for p in upload_dir(stack, task_id).iterdir()) == ["first.png"]


# --- 10: server files stay inside the share ------------------------------------------------------


def test_a_symlink_inside_a_share_folder_cannot_reach_outside(stack: LocalStack, http: httpx.Client) -> None:
    # CVAT's join_untrusted_path resolves the path and fails the creation job when it leaves the share
    task_id = new_task(http)
    failed = request_of(http, http.post(f"/api/tasks/{task_id}/data", json={"server_files": ["linked/"]}))
    assert failed["status"] == "failed" and "not in the subpath of the share" in failed["message"]
    assert http.get(f"/api/tasks/{task_id}").json()["size"] == 0
    assert leftovers(stack, task_id) == []
    done = request_of(http, http.post(f"/api/tasks/{task_id}/data", json={"server_files": ["good/"]}))
    assert done["status"] == "finished" and http.get(f"/api/tasks/{task_id}").json()["size"] == 3


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../outside/secret0.png", "path contains a '..' segment"),
        ("/etc/passwd", "path is not relative"),
        ("good//img0.png", "path is not in canonical form"),
    ],
)
def test_server_file_names_are_checked_as_cvats_serializer(http: httpx.Client, name: str, problem: str) -> None:
    # ServerFileSerializer's CanonicalRelativePathValidator (problem_with_untrusted_path)
    task_id = new_task(http)
    answer = http.post(f"/api/tasks/{task_id}/data", json={"server_files": ["good/img0.png", name]})
    assert answer.status_code == 400
    assert answer.json() == {"server_files": [{}, {"file": [problem]}]}


# --- 12: sessions, API keys and CSRF ---------------------------------------------------------------


def test_an_api_key_is_no_session_and_csrf_failures_are_403(stack: LocalStack) -> None:
    base = stack.gateway_url
    login = httpx.post(f"{base}/api/auth/login", json={"username": "admin", "password": "admin"})
    key = login.json()["key"]
    task = {"name": "t", "labels": []}
    for forged in (key, f"key:{key}"):
        answer = httpx.post(f"{base}/api/tasks", json=task, cookies={"sessionid": forged})
        assert answer.status_code == 401, forged
    cookies = {"sessionid": login.cookies["sessionid"], "csrftoken": login.cookies["csrftoken"]}
    # DRF's SessionAuthentication.enforce_csrf: PermissionDenied("CSRF Failed: <Django's reason>")
    missing = httpx.post(f"{base}/api/tasks", json=task, cookies=cookies)
    assert missing.status_code == 403 and missing.json() == {"detail": "CSRF Failed: CSRF token missing."}
    wrong = httpx.post(f"{base}/api/tasks", json=task, cookies=cookies, headers={"X-CSRFToken": "x" * 32})
    assert wrong.status_code == 403 and wrong.json() == {"detail": "CSRF Failed: CSRF token incorrect."}
    right = httpx.post(
        f"{base}/api/tasks", json=task, cookies=cookies, headers={"X-CSRFToken": login.cookies["csrftoken"]}
    )
    assert right.status_code == 201


# --- 13: Redis down --------------------------------------------------------------------------------


@pytest.mark.skipif(redis_server_binary() is None, reason="redis-server is not installed")
def test_redis_down_is_a_503_with_a_message(tmp_path: Path) -> None:
    server = RedisServer().start()
    local = LocalStack(folders=[FIXTURES / "lambda_detector"], data_dir=tmp_path / "data", redis_url=server.url)
    try:
        assert local.start(120) == {}
        with httpx.Client(base_url=local.gateway_url, auth=ADMIN, timeout=60) as http:
            task_id = new_task(http)
            write_images(tmp_path / "frames", [noise(0, (12, 16))])
            sent = http.post(
                f"/api/tasks/{task_id}/data",
                headers={"Upload-Multiple": "true"},
                files=client_files(("a.png", (tmp_path / "frames" / "img0.png").read_bytes())),
            )
            assert sent.status_code == 200
            finish = http.post(f"/api/tasks/{task_id}/data", json={}, headers={"Upload-Finish": "true"})
            assert request_of(http, finish)["status"] == "finished"
            assert http.get("/api/lambda/requests").status_code == 200
            server.stop()
            for method, path, body in (
                ("GET", "/api/lambda/requests", None),
                ("POST", "/api/lambda/requests", {"function": DETECTOR, "task": task_id}),
                ("GET", "/api/lambda/requests/lambda-x", None),
                ("DELETE", "/api/lambda/requests/lambda-x", None),
            ):
                answer = http.request(method, path, json=body)
                assert answer.status_code == 503, (method, path, answer.text)
                # a bare JSON string, as CVAT's lambda views answer their errors
                assert "the request queue (Redis) is unavailable" in answer.json(), answer.text
    finally:
        local.stop()
        server.close()


# --- 14: one integer parser for every route -------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/tasks/²", "/api/tasks/9223372036854775808", "/api/tasks/٣", "/api/jobs/²", "/api/jobs/99999999999999999999"],
)
def test_ids_that_are_not_ascii_int64_are_404(http: httpx.Client, path: str) -> None:
    answer = http.get(path)
    assert answer.status_code == 404 and answer.json()


def send(http: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    """``body`` as JSON, or a string sent as it is (JSON that Python cannot write, such as 1e400)."""
    if isinstance(body, str):
        return http.request(method, path, content=body, headers={"Content-Type": "application/json"})
    return http.request(method, path, json=body)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/tasks", {"name": "t", "labels": [{"name": "a", "attributes": [5]}]}),
        ("POST", "/api/tasks", {"name": "t", "labels": [{"name": "a", "attributes": "xyz"}]}),
        ("POST", "/api/tasks", {"name": "t", "labels": [{"name": "a", "sublabels": 5}]}),
        ("POST", "/api/tasks", {"name": "t", "labels": 7}),
        ("POST", "/api/tasks", {"name": "t", "labels": [], "segment_size": "abc"}),
        ("POST", "/api/tasks", '{"name": "t", "labels": [], "segment_size": 1e400}'),
        ("POST", "/api/tasks", {"name": "t", "labels": [], "assignee_id": 2**63}),
        ("GET", "/api/labels?task_id=²", None),
        ("GET", "/api/labels?task_id=9223372036854775808", None),
        ("GET", "/api/jobs?task_id=²", None),
        ("POST", "/api/jobs", {"task_id": 2**63, "type": "ground_truth", "frame_selection_method": "random_uniform"}),
    ],
)
def test_bad_numbers_and_labels_are_4xx(http: httpx.Client, method: str, path: str, body: Any) -> None:
    answer = send(http, method, path, body)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()


@pytest.fixture(scope="module")
def task_with_data(http: httpx.Client) -> int:
    task_id = new_task(http)
    assert request_of(http, http.post(f"/api/tasks/{task_id}/data", json={"server_files": ["good/"]}))["status"] == (
        "finished"
    )
    return task_id


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/tasks/{t}/data?type=frame&number=9223372036854775808", None),
        ("GET", "/api/tasks/{t}/data?type=chunk&number=²", None),
        ("GET", "/api/tasks/{t}/data?type=frame&number=²", None),
        ("PATCH", "/api/tasks/{t}/annotations?action=update", {"shapes": [{"id": [1]}]}),
        ("PATCH", "/api/tasks/{t}/annotations?action=delete", {"shapes": [{"id": {}}]}),
        ("PATCH", "/api/tasks/{t}/annotations?action=update", {"shapes": [{"id": 2**63, "frame": 0}]}),
        ("PATCH", "/api/tasks/{t}/annotations?action=create", {"shapes": [{"frame": 0, "elements": True}]}),
        ("PUT", "/api/tasks/{t}/annotations", {"tracks": [{"frame": 0, "shapes": [], "elements": 5}]}),
        ("PATCH", "/api/tasks/{t}", {"name": None}),
        ("PATCH", "/api/tasks/{t}", {"owner_id": None}),
        ("PATCH", "/api/tasks/{t}", {"name": {}}),
        ("PATCH", "/api/tasks/{t}", {"assignee_id": 2**63}),
        ("PATCH", "/api/tasks/{t}", {"owner_id": [1]}),
        ("POST", f"/api/lambda/functions/{DETECTOR}", {"task": 2**63, "frame": 0}),
        ("POST", f"/api/lambda/functions/{DETECTOR}", {"task": "{t}", "frame": 1e300}),
        ("POST", f"/api/lambda/functions/{DETECTOR}", {"task": "{t}", "frame": 2**63}),
        ("POST", f"/api/lambda/functions/{DETECTOR}", {"task": "{t}", "frame": 0, "mapping": [1]}),
        # DRF's strict JSON parser refuses NaN/Infinity; a frame of Infinity was an OverflowError (500)
        ("POST", f"/api/lambda/functions/{DETECTOR}", '{"task": {t}, "frame": Infinity}'),
        ("POST", f"/api/lambda/functions/{DETECTOR}", '{"task": {t}, "frame": 0, "threshold": NaN}'),
        ("POST", f"/api/lambda/functions/{DETECTOR}", {"task": "{t}", "frame": 10**400}),
        ("POST", "/api/lambda/requests", '{"function": "test-lambda-detector", "task": Infinity}'),
        (
            "POST",
            f"/api/lambda/functions/{DETECTOR}",
            {"task": "{t}", "frame": 0, "mapping": {"car": {"name": "car", "attributes": "x"}}},
        ),
        (
            "POST",
            f"/api/lambda/functions/{DETECTOR}",
            {"task": "{t}", "frame": 0, "mapping": {"car": {"name": "car", "attributes": [1]}}},
        ),
    ],
)
def test_bad_numbers_on_a_task_with_data_are_4xx(
    http: httpx.Client, task_with_data: int, method: str, path: str, body: Any
) -> None:
    if isinstance(body, dict) and body.get("task") == "{t}":
        body = {**body, "task": task_with_data}
    if isinstance(body, str):
        body = body.replace("{t}", str(task_with_data))
    answer = send(http, method, path.format(t=task_with_data), body)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()


def tus_create(http: httpx.Client, task_id: int, filename: bytes, length: str) -> httpx.Response:
    metadata = f"filename {base64.b64encode(filename).decode()}"
    # a header is latin-1 on the wire: the server reads "²" back as the superscript digit
    headers = {"Tus-Resumable": b"1.0.0", "Upload-Length": length.encode("latin-1"), "Upload-Metadata": metadata}
    return http.post(f"/api/tasks/{task_id}/data", headers=headers)


def test_tus_names_and_lengths_are_checked_before_anything_is_touched(stack: LocalStack, http: httpx.Client) -> None:
    task_id = new_task(http)
    created = tus_create(http, task_id, b"img.png", "3")
    assert created.status_code == 201
    location = created.headers["Location"]
    patch = {"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    assert http.patch(location, content=b"abc", headers=patch).status_code == 204
    for name, length in ((b"..", "3"), (b"a\0b.png", "3"), (b"img.png", "²"), (b"img.png", "-1"), (b"img.png", "1e3")):
        answer = tus_create(http, task_id, name, length)
        assert answer.status_code == 400 and answer.json(), (name, length)
    assert (upload_dir(stack, task_id) / "img.png").read_bytes() == b"abc"  # still the uploaded bytes
    # TUS metadata: comma-separated "key base64value"; a key may come without a value (was a 500)
    for metadata, status in (("filename", 400), ("filename !!!", 400), ("filename Yi5wbmc=, x", 201)):
        headers = {"Tus-Resumable": "1.0.0", "Upload-Length": "3", "Upload-Metadata": metadata}
        assert http.post(f"/api/tasks/{task_id}/data", headers=headers).status_code == status, metadata
    # CVAT's TUS mixin: a name already uploaded is a 409, a chunk past Upload-Length a 413 that writes nothing
    assert tus_create(http, task_id, b"img.png", "5").status_code == 409
    other = tus_create(http, task_id, b"other.png", "3").headers["Location"]
    assert http.patch(other, content=b"abcdef", headers=patch).status_code == 413
    assert (upload_dir(stack, task_id) / "other.png").read_bytes() == b""


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"image_quality": "abc"}, "image_quality"),
        ({"image_quality": 101}, "image_quality"),
        ({"chunk_size": 1e30}, "chunk_size"),
        ({"start_frame": 2**64}, "start_frame"),
        ({"upload_file_order": [{}]}, "upload_file_order"),
    ],
)
def test_upload_finish_parameters_are_400(http: httpx.Client, body: dict[str, Any], key: str) -> None:
    task_id = new_task(http)
    answer = http.post(f"/api/tasks/{task_id}/data", json=body, headers={"Upload-Finish": "true"})
    assert answer.status_code == 400 and key in answer.json(), answer.text


# --- 17: task data creation is all or nothing --------------------------------------------------------


def client_files(*files: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(f"client_files[{i}]", (name, data, "application/octet-stream")) for i, (name, data) in enumerate(files)]


def test_a_failed_upload_finish_leaves_nothing_and_a_retry_succeeds(
    stack: LocalStack, http: httpx.Client, tmp_path: Path
) -> None:
    task_id = new_task(http)
    good = [p.read_bytes() for p in write_images(tmp_path, [noise(i, (10, 12)) for i in range(2)])]
    url = f"/api/tasks/{task_id}/data"

    def upload(*files: tuple[str, bytes]) -> dict[str, Any]:
        assert http.post(url, headers={"Upload-Start": "true"}).status_code == 202
        sent = http.post(url, headers={"Upload-Multiple": "true"}, files=client_files(*files))
        assert sent.status_code == 200, sent.text
        return request_of(http, http.post(url, json={"image_quality": 70}, headers={"Upload-Finish": "true"}))

    failed = upload(("a.png", good[0]), ("b.png", b"not an image"))
    assert failed["status"] == "failed" and "b.png is not a readable image" in failed["message"]
    assert leftovers(stack, task_id) == []
    assert upload(("a.png", good[0]), ("c.png", good[1]))["status"] == "finished"
    assert [f["name"] for f in http.get(f"{url}/meta").json()["frames"]] == ["a.png", "c.png"]
