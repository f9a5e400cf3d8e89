"""The task API against CVAT 2.73's behaviour, driven with cvat-sdk and httpx over a running local stack.

Each expected value comes from reading CVAT 2.73's source (``engine/task.py``, ``models.py``,
``serializers.py``, ``views.py``, ``dataset_manager/task.py``, ``lambda_manager/views.py``,
``engine/rules/*.rego``, ``iam``); the comment on each test names the code it follows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from cvat_sdk import Client, make_client
from cvat_sdk.api_client import exceptions, models
from gateway_support import FIXTURES, noise, submit, wait_request, write_images
from PIL import Image

from cvat_serverless.stack import LocalStack

ADMIN = ("admin", "admin")
DETECTOR = "test-lambda-detector"
SRC = Path(__file__).resolve().parents[1] / "src"
SHAPE_KEYS = {
    "id", "label_id", "type", "frame", "group", "source", "score", "occluded",
    "outside", "z_order", "rotation", "points", "attributes", "elements",
}  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    root = tmp_path_factory.mktemp("cvat273")
    write_images(root / "share" / "ten", [noise(i, (12 + i, 16)) for i in range(10)])
    with LocalStack(folders=[FIXTURES / "lambda_detector"], data_dir=root / "data", share_dir=root / "share").running(
        300
    ) as local:
        yield local


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> Iterator[Client]:
    with make_client(stack.gateway_url, credentials=ADMIN) as sdk:
        sdk.config.status_check_period = 0.05
        yield sdk


@pytest.fixture(scope="module")
def http(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, auth=ADMIN, timeout=60) as session:
        yield session


def make_task(http: httpx.Client, frames: int, segment_size: int = 0, **data: Any) -> dict[str, Any]:
    """A task over the share's first ``frames`` images (img0..), created as cvat-sdk does, then re-read."""
    created = http.post("/api/tasks", json={"name": "t", "labels": [{"name": "car"}], "segment_size": segment_size})
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    files = [f"ten/img{i}.png" for i in range(frames)]
    answer = http.post(f"/api/tasks/{task_id}/data", json={"server_files": files, "image_quality": 70, **data})
    assert answer.status_code == 202, answer.text
    return http.get(f"/api/tasks/{task_id}").json()


def label_of(http: httpx.Client, task: dict[str, Any]) -> int:
    return http.get("/api/labels", params={"task_id": task["id"]}).json()["results"][0]["id"]


def jobs_of(http: httpx.Client, task: dict[str, Any]) -> list[dict[str, Any]]:
    return http.get("/api/jobs", params={"task_id": task["id"]}).json()["results"]


def box(label_id: int, frame: int) -> dict[str, Any]:
    return {"type": "rectangle", "frame": frame, "label_id": label_id, "points": [1.0, 2.0, 3.0, 4.0]}


def register(stack: LocalStack, username: str, password: str = "Lamp-post-42") -> httpx.Response:
    body = {"username": username, "email": f"{username}@example.org", "password1": password, "password2": password}
    return httpx.post(f"{stack.gateway_url}/api/auth/register", json=body)


# --- 1. frames and jobs --------------------------------------------------------------------------


def test_start_stop_step_choose_the_frames(client: Client, stack: LocalStack, tmp_path: Path) -> None:
    # ImageListReader keeps sorted_files[start:stop+1:step]; Data.stop_frame becomes
    # min(stop, start + (size-1)*step); the API numbers the kept frames 0..size-1.
    arrays = [noise(20 + i) for i in range(10)]
    files = write_images(tmp_path, arrays)
    task = client.tasks.create_from_data(
        spec={"name": "step", "labels": [{"name": "car"}]},
        resources=[str(f) for f in files],
        data_params={"start_frame": 1, "stop_frame": 8, "frame_step": 3},  # cvat-sdk sends frame_filter "step=3"
    )
    assert task.size == 3
    meta = task.get_meta()
    assert (meta.start_frame, meta.stop_frame, meta.frame_filter) == (1, 7, "step=3")
    assert [f.name for f in meta.frames] == ["img1.png", "img4.png", "img7.png"]
    assert np.array_equal(np.asarray(Image.open(task.get_frame(2, quality="original"))), arrays[7])
    frame_3 = httpx.get(
        f"{stack.gateway_url}/api/tasks/{task.id}/data", params={"type": "frame", "number": 3}, auth=ADMIN
    )
    assert frame_3.status_code == 400


def test_segment_size_splits_jobs(http: httpx.Client, client: Client) -> None:
    # _generate_segment_params: range(0, size, segment_size), stop = min(start + size - 1, size - 1);
    # 0 or more than the size means one job and segment_size == size. JobViewSet orders by "-id".
    task = make_task(http, 7, segment_size=3)
    assert task["segment_size"] == 3 and task["jobs"]["count"] == 3 and task["overlap"] == 0
    jobs = jobs_of(http, task)
    assert [(j["start_frame"], j["stop_frame"], j["frame_count"]) for j in jobs] == [(6, 6, 1), (3, 5, 3), (0, 2, 3)]
    assert [j["id"] for j in jobs] == sorted((j["id"] for j in jobs), reverse=True)
    assert {j["type"] for j in jobs} == {"annotation"}
    sdk_jobs = client.tasks.retrieve(task["id"]).get_jobs()
    assert sorted((j.start_frame, j.stop_frame) for j in sdk_jobs) == [(0, 2), (3, 5), (6, 6)]
    whole = make_task(http, 4, segment_size=20)
    assert whole["segment_size"] == 4
    assert [(j["start_frame"], j["stop_frame"]) for j in jobs_of(http, whole)] == [(0, 3)]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"frame_filter": "every=2"}, {"frame_filter": ["Invalid frame filter expression"]}),
        ({"start_frame": 5, "stop_frame": 2}, {"non_field_errors": ["Stop frame must be more or equal start frame"]}),
        ({"chunk_size": 0}, {"chunk_size": ["Chunk size must be a positive integer"]}),
    ],
)
def test_data_parameters_are_validated(http: httpx.Client, data: dict[str, Any], error: Any) -> None:
    # DataSerializer.validate_frame_filter / validate_chunk_size / validate
    task_id = http.post("/api/tasks", json={"name": "bad", "labels": []}).json()["id"]
    answer = http.post(f"/api/tasks/{task_id}/data", json={"server_files": ["ten/img0.png"], **data})
    assert answer.status_code == 400 and answer.json() == error


# --- 2. job-level annotations --------------------------------------------------------------------


def test_job_annotations_get_put_patch_delete(http: httpx.Client) -> None:
    # TaskAnnotation slices task-level writes by each job's [start, stop]; JobAnnotation answers
    # PATCH with only the objects of that action; DELETE clears one job.
    task = make_task(http, 6, segment_size=3)
    label = label_of(http, task)
    first, second = sorted(jobs_of(http, task), key=lambda j: j["start_frame"])
    put = http.put(f"/api/tasks/{task['id']}/annotations", json={"shapes": [box(label, f) for f in (0, 2, 4)]})
    assert put.status_code == 200
    assert [s["frame"] for s in http.get(f"/api/jobs/{first['id']}/annotations").json()["shapes"]] == [0, 2]
    assert [s["frame"] for s in http.get(f"/api/jobs/{second['id']}/annotations").json()["shapes"]] == [4]
    created = http.patch(f"/api/jobs/{second['id']}/annotations?action=create", json={"shapes": [box(label, 5)]})
    assert created.status_code == 200 and [s["frame"] for s in created.json()["shapes"]] == [5]
    new_id = created.json()["shapes"][0]["id"]
    moved = {**box(label, 5), "id": new_id, "points": [5.0, 5.0, 9.0, 9.0]}
    updated = http.patch(f"/api/jobs/{second['id']}/annotations?action=update", json={"shapes": [moved]})
    assert updated.status_code == 200
    shapes = http.get(f"/api/jobs/{second['id']}/annotations").json()["shapes"]
    assert [(s["id"], s["points"]) for s in shapes if s["frame"] == 5] == [(new_id, [5.0, 5.0, 9.0, 9.0])]
    deleted = http.patch(f"/api/jobs/{second['id']}/annotations?action=delete", json={"shapes": [moved]})
    assert deleted.status_code == 200 and [s["id"] for s in deleted.json()["shapes"]] == [new_id]
    replaced = http.put(f"/api/jobs/{first['id']}/annotations", json={"tags": [{"label_id": label, "frame": 1}]})
    assert replaced.status_code == 200
    assert http.get(f"/api/jobs/{first['id']}/annotations").json()["shapes"] == []
    assert http.delete(f"/api/jobs/{second['id']}/annotations").status_code == 204
    whole = http.get(f"/api/tasks/{task['id']}/annotations").json()
    assert whole["shapes"] == [] and [t["frame"] for t in whole["tags"]] == [1]


def test_objects_outside_the_jobs(http: httpx.Client) -> None:
    # A task-level write keeps only what falls into some job's range (AnnotationIR.slice), so a frame
    # past the task is dropped; JobAnnotation itself does not check frames and keeps what it is given.
    task = make_task(http, 4, segment_size=2)
    label = label_of(http, task)
    first = min(jobs_of(http, task), key=lambda j: j["start_frame"])
    put = http.put(f"/api/tasks/{task['id']}/annotations", json={"shapes": [box(label, 1), box(label, 9)]})
    assert put.status_code == 200 and [s["frame"] for s in put.json()["shapes"]] == [1]
    assert [s["frame"] for s in http.get(f"/api/tasks/{task['id']}/annotations").json()["shapes"]] == [1]
    stray = http.patch(f"/api/jobs/{first['id']}/annotations?action=create", json={"shapes": [box(label, 3)]})
    assert stray.status_code == 200
    assert [s["frame"] for s in http.get(f"/api/jobs/{first['id']}/annotations").json()["shapes"]] == [1, 3]


# --- 3. ground-truth jobs ------------------------------------------------------------------------


def test_ground_truth_job_creation(http: httpx.Client) -> None:
    # JobWriteSerializer.create: a GT segment spans the task (0..size-1) with the chosen frames;
    # only one GT job per task; manual frames must be unique and inside the task.
    task = make_task(http, 6, segment_size=3)
    base = {"task_id": task["id"], "type": "ground_truth", "frame_selection_method": "manual"}
    repeated = http.post("/api/jobs", json={**base, "frames": [1, 1]})
    assert repeated.status_code == 400 and repeated.json() == ["Frames must not repeat"]
    outside = http.post("/api/jobs", json={**base, "frames": [2, 7, 9]})
    assert outside.json() == ["The following frames do not exist in the task: 7, 9"]
    missing = http.post("/api/jobs", json={**base, "frame_selection_method": "random_uniform"})
    assert missing.json() == {"non_field_errors": ['One of the fields "frame_count", "frame_share" required']}
    created = http.post("/api/jobs", json={**base, "frames": [4, 1]})
    assert created.status_code == 201, created.text
    job = created.json()
    assert (job["type"], job["start_frame"], job["stop_frame"], job["frame_count"]) == ("ground_truth", 0, 5, 2)
    again = http.post("/api/jobs", json={**base, "frame_selection_method": "random_uniform", "frame_count": 2})
    assert again.status_code == 400 and again.json() == [
        'Task with validation mode "gt" cannot have more than 1 GT job'
    ]
    assert http.get(f"/api/tasks/{task['id']}").json()["jobs"]["count"] == 3
    annotation_job = jobs_of(http, task)[-1]
    assert http.delete(f"/api/jobs/{annotation_job['id']}").json() == ["Only ground truth jobs can be removed"]
    assert http.delete(f"/api/jobs/{job['id']}").status_code == 204


def test_automatic_annotation_leaves_ground_truth_alone(client: Client, http: httpx.Client) -> None:
    # LambdaJob._call_detector without a job: frame_set = range(size), results patched into the task,
    # which TaskAnnotation splits over the ANNOTATION jobs only; cleanup deletes those jobs' data.
    task = make_task(http, 5, segment_size=2)
    label = label_of(http, task)
    gt = http.post(
        "/api/jobs",
        json={"task_id": task["id"], "type": "ground_truth", "frame_selection_method": "manual", "frames": [1, 3]},
    ).json()
    assert http.put(f"/api/jobs/{gt['id']}/annotations", json={"shapes": [box(label, 3)]}).status_code == 200
    before = http.get(f"/api/jobs/{gt['id']}/annotations").json()
    call = wait_request(client, submit(client, function=DETECTOR, task=task["id"], cleanup=True).id)
    assert call.status == "finished", call.exc_info
    saved = http.get(f"/api/tasks/{task['id']}/annotations").json()
    assert sorted(s["frame"] for s in saved["shapes"]) == [0, 1, 2, 3, 4]
    assert all(s["source"] == "auto" for s in saved["shapes"])
    assert http.get(f"/api/jobs/{gt['id']}/annotations").json() == before


def test_job_request_annotates_only_the_jobs_frames(client: Client, http: httpx.Client) -> None:
    # LambdaJob._get_frame_set with a job: the job's segment frames; results go into that job.
    task = make_task(http, 7, segment_size=3)
    middle = next(j for j in jobs_of(http, task) if j["start_frame"] == 3)
    call = wait_request(client, submit(client, function=DETECTOR, task=task["id"], job=middle["id"]).id)
    assert call.status == "finished", call.exc_info
    saved = http.get(f"/api/tasks/{task['id']}/annotations").json()
    assert sorted(s["frame"] for s in saved["shapes"]) == [3, 4, 5]
    assert len(http.get(f"/api/jobs/{middle['id']}/annotations").json()["shapes"]) == 3


def test_random_ground_truth_frames_match_cvats_generator(client: Client, http: httpx.Client) -> None:
    # JobWriteSerializer: random_uniform = Generator(MT19937(seed)).choice(valid frames, count,
    # shuffle=False, replace=False). A request naming the GT job annotates exactly its frames
    # (LambdaJob._get_frame_set does not look at the job type), which makes them observable.
    task = make_task(http, 8, segment_size=4)
    body = {"task_id": task["id"], "type": "ground_truth", "frame_selection_method": "random_uniform"}
    gt = http.post("/api/jobs", json={**body, "frame_count": 3, "random_seed": 7}).json()
    expected = np.random.Generator(np.random.MT19937(seed=7)).choice(
        list(range(8)), size=3, shuffle=False, replace=False
    )
    call = wait_request(client, submit(client, function=DETECTOR, task=task["id"], job=gt["id"]).id)
    assert call.status == "finished", call.exc_info
    frames = sorted(s["frame"] for s in http.get(f"/api/jobs/{gt['id']}/annotations").json()["shapes"])
    assert frames == sorted(int(f) for f in expected) and gt["frame_count"] == 3
    assert http.get(f"/api/tasks/{task['id']}/annotations").json()["shapes"] == []


# --- 4. annotation bodies ------------------------------------------------------------------------


def test_annotation_bodies_have_exactly_cvats_keys(http: httpx.Client) -> None:
    # LabeledDataSerializer: version, tags, shapes, tracks, intervals; LabeledShapeSerializerFromDB's
    # keys for a shape (unknown input keys are dropped); _extend_attributes fills label defaults.
    created = http.post(
        "/api/tasks",
        json={
            "name": "keys",
            "labels": [{"name": "car", "attributes": [{"name": "c", "input_type": "text", "default_value": "x"}]}],
        },
    ).json()
    http.post(f"/api/tasks/{created['id']}/data", json={"server_files": ["ten/img0.png"], "image_quality": 70})
    label = http.get("/api/labels", params={"task_id": created["id"]}).json()["results"][0]
    shape = {**box(label["id"], 0), "confidence": 0.5, "extra": True}
    assert http.put(f"/api/tasks/{created['id']}/annotations", json={"shapes": [shape]}).status_code == 200
    body = http.get(f"/api/tasks/{created['id']}/annotations").json()
    assert set(body) == {"version", "tags", "shapes", "tracks", "intervals"}
    (stored,) = body["shapes"]
    assert set(stored) == SHAPE_KEYS
    assert stored["attributes"] == [{"spec_id": label["attributes"][0]["id"], "value": "x"}]
    assert (stored["source"], stored["score"], stored["elements"]) == ("manual", 1, [])


@pytest.mark.parametrize(
    ("method", "action", "body", "error"),
    [
        (
            "PUT",
            None,
            {"shapes": [{"foo": 1}]},
            {"shapes": [{k: ["This field is required."] for k in ("label_id", "type", "frame")}]},
        ),
        ("PUT", None, {"shapes": [{"type": "rectangle", "frame": 0, "label_id": 0, "points": [1, 2, 3]}]}, None),
        ("PUT", None, {"tags": [{"id": 5, "frame": 0, "label_id": 1}]}, {"tags": [{"id": ["must be absent"]}]}),
        (
            "PATCH",
            "delete",
            {"tags": [{"frame": 0, "label_id": 1}]},
            {"tags": [{"id": ["must be present and not null"]}]},
        ),
        ("PATCH", "merge", {}, ["Please specify a correct 'action' for the request"]),
        ("PUT", None, {"tags": [{"frame": 0, "label_id": 99999}]}, ["label_id `99999` is invalid"]),
    ],
)
def test_annotation_bodies_are_validated(
    http: httpx.Client, method: str, action: str | None, body: dict[str, Any], error: Any
) -> None:
    # ShapeSerializer / AnnotationSerializer.validate_id per action / the view's action check /
    # JobAnnotation._validate_label_for_existence
    task = make_task(http, 1)
    params = {"action": action} if action else {}
    answer = http.request(method, f"/api/tasks/{task['id']}/annotations", params=params, json=body)
    assert answer.status_code == 400
    if error is None:
        assert answer.json()["shapes"][0]["points"] == ["invalid length for shape type 'rectangle'"]
    else:
        assert answer.json() == error


# --- 5. accounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"username": "abc", "password1": "Lamp-post-42", "password2": "Lamp-post-42"}, "username"),
        ({"username": "da ve", "password1": "Lamp-post-42", "password2": "Lamp-post-42"}, "username"),
        ({"username": "erin1", "password1": "Lamp-post-42", "password2": "Lamp-post-43"}, "non_field_errors"),
        ({"username": "frank", "password1": "12345678901", "password2": "12345678901"}, "password1"),
        ({"username": "grace", "password1": "short", "password2": "short"}, "password1 password2"),
        ({"username": "heidi", "email": "no-at", "password1": "Lamp-post-42", "password2": "Lamp-post-42"}, "email"),
        ({"username": "ivanhoe", "password1": "ivanhoe12", "password2": "ivanhoe12"}, "non_field_errors"),
        ({"password1": "Lamp-post-42", "password2": "Lamp-post-42"}, "username"),
    ],
)
def test_register_validates_as_cvat(stack: LocalStack, body: dict[str, Any], error: str) -> None:
    # RegisterSerializerEx (min username 5, password 8..256) + Django's password validators
    answer = httpx.post(f"{stack.gateway_url}/api/auth/register", json=body)
    assert answer.status_code == 400 and list(answer.json()) == error.split(), answer.text


def test_register_then_login_with_cvat_sdk(stack: LocalStack) -> None:
    # RegisterViewEx answers 201 with the serializer's fields and a token key; a taken name is refused.
    with make_client(stack.gateway_url) as sdk:
        request = models.RegisterSerializerExRequest(
            username="judy1", email="judy1@example.org", password1="Lamp-post-42", password2="Lamp-post-42"
        )
        created, _ = sdk.api_client.auth_api.create_register(request)
        assert created.username == "judy1" and created.key and created.email_verification_required is False
        with pytest.raises(exceptions.ApiException) as taken:
            sdk.api_client.auth_api.create_register(request)
        assert taken.value.status == 400 and "username" in taken.value.body
    with make_client(stack.gateway_url, credentials=("judy1", "Lamp-post-42")) as judy:
        assert judy.tasks.list() == []
        assert judy.api_client.users_api.retrieve_self()[0].username == "judy1"


def test_visibility_follows_owner_and_assignee(stack: LocalStack, http: httpx.Client) -> None:
    # tasks.rego / jobs.rego in the sandbox: owner, task assignee, job assignee; admin sees all;
    # a refused object is a 403 {"detail": ...}; lists are filtered.
    for name in ("kate1", "liam1"):
        assert register(stack, name).status_code == 201
    kate, liam = ("kate1", "Lamp-post-42"), ("liam1", "Lamp-post-42")
    users = {
        u.json()["username"]: u.json()["id"]
        for u in (httpx.get(f"{stack.gateway_url}/api/users/self", auth=a) for a in (kate, liam))
    }
    task = make_task(http, 4, segment_size=2)
    url = f"{stack.gateway_url}/api/tasks/{task['id']}"
    refused = httpx.get(url, auth=kate)
    assert refused.status_code == 403 and refused.json() == {
        "detail": "You do not have permission to perform this action."
    }
    assert task["id"] not in [t["id"] for t in httpx.get(f"{stack.gateway_url}/api/tasks", auth=kate).json()["results"]]
    assert httpx.get(f"{url}/annotations", auth=kate).status_code == 403
    assert http.patch(f"/api/tasks/{task['id']}", json={"assignee_id": users["kate1"]}).status_code == 200
    assert httpx.get(url, auth=kate).status_code == 200
    assert (
        len(httpx.get(f"{stack.gateway_url}/api/jobs", params={"task_id": task["id"]}, auth=kate).json()["results"])
        == 2
    )
    assert httpx.delete(url, auth=kate).status_code == 403  # only the owner deletes
    job = jobs_of(http, task)[0]
    assert (
        http.patch(f"/api/jobs/{job['id']}", json={"assignee": users["liam1"]}).json()["assignee"]["id"]
        == users["liam1"]
    )
    assert httpx.get(url, auth=liam).status_code == 403  # a job assignee does not see the task
    assert httpx.get(f"{stack.gateway_url}/api/jobs/{job['id']}/annotations", auth=liam).status_code == 200
    listed = httpx.get(f"{stack.gateway_url}/api/jobs", auth=liam).json()["results"]
    assert [j["id"] for j in listed] == [job["id"]]
    other = jobs_of(http, task)[1]
    assert httpx.get(f"{stack.gateway_url}/api/jobs/{other['id']}", auth=liam).status_code == 403
    own = httpx.post(f"{stack.gateway_url}/api/tasks", json={"name": "mine", "labels": []}, auth=liam).json()
    assert own["owner"]["username"] == "liam1"
    assert own["id"] in [t["id"] for t in http.get("/api/tasks").json()["results"]]  # the admin sees all


def test_logout_revokes_the_session_and_the_token(stack: LocalStack) -> None:
    # dj-rest-auth's LogoutView deletes the user's Token and ends the Django session.
    assert register(stack, "mallory").status_code == 201
    base = stack.gateway_url
    login = httpx.post(f"{base}/api/auth/login", json={"username": "mallory", "password": "Lamp-post-42"})
    key = login.json()["key"]
    again = httpx.post(f"{base}/api/auth/login", json={"email": "mallory@example.org", "password": "Lamp-post-42"})
    assert again.json()["key"] == key  # one token per user (Token.objects.get_or_create)
    headers = {"Authorization": f"Token {key}"}
    assert httpx.get(f"{base}/api/tasks", headers=headers).status_code == 200
    with httpx.Client(base_url=base, cookies=login.cookies) as session:
        csrf = {"X-CSRFToken": login.cookies["csrftoken"]}
        assert session.get("/api/tasks").status_code == 200
        # DRF's SessionAuthentication runs before the view: no CSRF token, no logout
        refused = session.post("/api/auth/logout")
        assert refused.status_code == 403 and refused.json() == {"detail": "CSRF Failed: CSRF token missing."}
        assert session.get("/api/tasks").status_code == 200
        assert session.post("/api/auth/logout", headers=csrf).json() == {"detail": "Successfully logged out."}
        assert session.get("/api/tasks", cookies=login.cookies).status_code == 401
    assert httpx.get(f"{base}/api/tasks", headers=headers).status_code == 401
    stale = httpx.post(f"{base}/api/auth/logout", headers=headers)  # the revoked key is refused, as DRF does
    assert stale.status_code == 401 and stale.json() == {"detail": "Invalid token."}
    assert httpx.post(f"{base}/api/auth/logout").status_code == 200  # nobody logged in: dj-rest-auth still says 200


def test_admin_adds_users_from_the_cli(stack: LocalStack) -> None:
    # like CVAT's createsuperuser: accounts made on the server side; a worker cannot create tasks.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "cvat_serverless.cli", "users", "add", "nina1", "--role", "worker"]
    command += ["--password", "Lamp-post-42", "--data-dir", str(stack.data_dir)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    weak = subprocess.run(
        [*command[:5], "oscar", "--password", "1234567890", "--data-dir", str(stack.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert weak.returncode == 1 and "entirely numeric" in weak.stderr
    nina = ("nina1", "Lamp-post-42")
    assert httpx.get(f"{stack.gateway_url}/api/tasks", auth=nina).status_code == 200
    refused = httpx.post(f"{stack.gateway_url}/api/tasks", json={"name": "x", "labels": []}, auth=nina)
    assert refused.status_code == 403


def test_lambda_calls_follow_the_same_visibility(stack: LocalStack, http: httpx.Client) -> None:
    """Online calls and requests on a task the user may not see are 403; the request list is filtered;
    a job assignee may call on their job; a request's job must belong to its task."""
    assert register(stack, "nora1").status_code == 201
    nora = ("nora1", "Lamp-post-42")
    nora_id = httpx.get(f"{stack.gateway_url}/api/users/self", auth=nora).json()["id"]
    task = make_task(http, 4, segment_size=2)
    first, second = sorted(jobs_of(http, task), key=lambda job: job["start_frame"])
    call = f"{stack.gateway_url}/api/lambda/functions/test-lambda-detector"
    refused = httpx.post(call, json={"task": task["id"], "frame": 0}, auth=nora)
    assert refused.status_code == 403, refused.text
    assert httpx.post(call, json={"job": first["id"], "frame": 0}, auth=nora).status_code == 403
    assert http.patch(f"/api/jobs/{first['id']}", json={"assignee": nora_id}).status_code == 200
    assert httpx.post(call, json={"job": first["id"], "frame": 0}, auth=nora).status_code == 200
    outside = httpx.post(call, json={"job": first["id"], "frame": second["start_frame"]}, auth=nora)
    assert outside.status_code == 400 and "outside the job range" in outside.text
    requests_url = f"{stack.gateway_url}/api/lambda/requests"
    body = {"function": "test-lambda-detector", "task": task["id"]}
    assert httpx.post(requests_url, json=body, auth=nora).status_code == 403
    other = make_task(http, 2)
    mismatch = http.post("/api/lambda/requests", json={**body, "task": other["id"], "job": first["id"]})
    assert mismatch.status_code == 400 and "Job task ID does not match task ID" in mismatch.text
    started = http.post("/api/lambda/requests", json=body)
    assert started.status_code == 200, started.text
    assert started.json()["id"] in [c["id"] for c in http.get("/api/lambda/requests").json()]
    assert started.json()["id"] not in [c["id"] for c in httpx.get(requests_url, auth=nora).json()]


def test_parallel_annotation_writes_are_all_kept(stack: LocalStack, http: httpx.Client) -> None:
    """Issue 13: 60 parallel PATCH action=create (one shape each) all answered 200, only 53 stored."""
    from concurrent.futures import ThreadPoolExecutor

    task = make_task(http, 2)
    label = label_of(http, task)
    url = f"{stack.gateway_url}/api/tasks/{task['id']}/annotations"

    def create(index: int) -> int:
        body = {"shapes": [box(label, index % 2)], "tags": [], "tracks": []}
        return httpx.patch(url, params={"action": "create"}, json=body, auth=ADMIN, timeout=60).status_code

    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(create, range(60)))
    assert statuses == [200] * 60
    assert len(http.get(f"/api/tasks/{task['id']}/annotations").json()["shapes"]) == 60
