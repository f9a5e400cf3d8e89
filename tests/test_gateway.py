"""The lambda gateway and task API, driven by the real cvat-sdk client against a running local stack."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from cvat_sdk import Client, make_client
from cvat_sdk.api_client import exceptions, models
from cvat_sdk.core.proxies.annotations import AnnotationUpdateAction
from cvat_sdk.core.proxies.tasks import ResourceType
from gateway_support import FIXTURES, SERVERLESS, create_task, noise, online, submit, wait_request, write_images
from PIL import Image
from skimage import data

from common.masks import rle_to_bitmap
from cvat_serverless.gateway import NuclioClient, NuclioSettings
from cvat_serverless.gateway.errors import GatewayError
from cvat_serverless.stack import LocalStack

DETECTOR = "test-lambda-detector"
DETECTOR_LABELS = [
    {
        "name": "car",
        "type": "rectangle",
        "attributes": [
            {"name": "color", "mutable": False, "input_type": "select", "values": ["red", "blue"]},
            {"name": "age", "mutable": False, "input_type": "number", "values": ["0", "150", "1"]},
        ],
    },
    {"name": "person", "type": "mask"},
    {"name": "body", "type": "skeleton", "svg": "", "sublabels": [{"name": n, "type": "points"} for n in "123"]},
    {"name": "weather", "type": "tag"},
    {"name": "vehicle", "type": "any"},
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    root = tmp_path_factory.mktemp("gateway")
    share = root / "share"
    write_images(share / "images", [noise(i) for i in range(3)])
    folders = [
        FIXTURES / "lambda_detector",
        FIXTURES / "lambda_tracker",
        FIXTURES / "lambda_interactor",
        FIXTURES / "lambda_bad_metadata",
        FIXTURES / "raising",
        SERVERLESS / "opencv/tracker/nuclio",
        SERVERLESS / "opencv/grabcut/nuclio",
        SERVERLESS / "pytorch/levan92/deep-sort-mobilenetv2/nuclio",
        SERVERLESS / "pytorch/timesler/mtcnn/nuclio",
    ]
    with LocalStack(folders=folders, data_dir=root / "data", share_dir=share, env={"FIXTURE_SLEEP": "0.05"}).running(
        300
    ) as local:
        yield local


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> Iterator[Client]:
    with make_client(stack.gateway_url, credentials=("admin", "admin")) as sdk:
        sdk.config.status_check_period = 0.05
        yield sdk


# --- task API --------------------------------------------------------------------------------------


def test_about_needs_no_auth_and_the_rest_does(stack: LocalStack) -> None:
    about = httpx.get(f"{stack.gateway_url}/api/server/about").json()
    assert about["version"].startswith("2.80")
    answer = httpx.get(f"{stack.gateway_url}/api/tasks")
    assert answer.status_code == 401 and answer.json() == {"detail": "Authentication credentials were not provided."}
    assert httpx.get(f"{stack.gateway_url}/api/tasks", auth=("admin", "admin")).status_code == 200
    wrong = httpx.get(f"{stack.gateway_url}/api/tasks", auth=("admin", "nope"))
    assert wrong.status_code == 401 and wrong.json() == {"detail": "Invalid username/password."}
    forged = httpx.get(f"{stack.gateway_url}/api/tasks", headers={"Authorization": "Token nope"})
    assert forged.status_code == 401 and forged.json() == {"detail": "Invalid token."}
    key = httpx.post(f"{stack.gateway_url}/api/auth/login", json={"username": "admin", "password": "admin"}).json()
    headers = {"Authorization": f"Token {key['key']}"}
    assert httpx.get(f"{stack.gateway_url}/api/tasks", headers=headers).status_code == 200
    bad = httpx.post(f"{stack.gateway_url}/api/auth/login", json={"username": "admin", "password": "x"})
    assert bad.status_code == 400


def test_unknown_tasks_and_jobs_are_drfs_404(stack: LocalStack) -> None:
    """Django's Http404 through DRF, as a real CVAT 2.73 answered ``GET /api/tasks/99999``."""
    for path, model in (("/api/tasks/99999", "Task"), ("/api/jobs/99999", "Job")):
        answer = httpx.get(f"{stack.gateway_url}{path}", auth=("admin", "admin"))
        assert (answer.status_code, answer.json()) == (404, {"detail": f"No {model} matches the given query."})


def test_unknown_endpoints_say_so(stack: LocalStack) -> None:
    answer = httpx.get(f"{stack.gateway_url}/api/projects", auth=("admin", "admin"))
    assert answer.status_code == 404 and "does not exist" in answer.json()["error"]


def test_task_from_local_files(client: Client, tmp_path: Path) -> None:
    arrays = [noise(i) for i in range(12)]
    task = create_task(client, tmp_path, arrays, [{"name": "car"}])
    assert task.size == 12 and task.data_original_chunk_type == "imageset"
    labels = task.get_labels()
    assert [label.name for label in labels] == ["car"] and labels[0].id > 0
    assert len(task.get_jobs()) == 1
    meta = task.get_meta()
    assert [frame.name for frame in meta.frames] == [f"img{i}.png" for i in [0, 1, 10, 11, *range(2, 10)]]
    frame = task.get_frame(2, quality="original")
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(frame)), arrays[10])
    assert task.id in [t.id for t in client.tasks.list()]


def test_task_from_share_folder_and_traversal(client: Client, stack: LocalStack) -> None:
    task = client.tasks.create_from_data(
        spec={"name": "shared", "labels": [{"name": "car"}]},
        resource_type=ResourceType.SHARE,
        resources=["images/"],
    )
    assert task.size == 3
    with pytest.raises(exceptions.ApiException):
        client.tasks.create_from_data(
            spec={"name": "escape", "labels": []}, resource_type=ResourceType.SHARE, resources=["../data/tasks.sqlite3"]
        )


def test_tus_upload_path(stack: LocalStack, client: Client, tmp_path: Path) -> None:
    task = client.tasks.create(spec={"name": "tus", "labels": [{"name": "car"}]})
    png = write_images(tmp_path, [noise(7)])[0].read_bytes()
    auth = ("admin", "admin")
    url = f"{stack.gateway_url}/api/tasks/{task.id}/data/"
    created = httpx.post(
        url,
        auth=auth,
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(len(png)), "Upload-Metadata": "filename YS5wbmc="},
    )
    assert created.status_code == 201 and created.headers["Location"].startswith("http")
    location = created.headers["Location"]
    half = len(png) // 2
    for offset, chunk in ((0, png[:half]), (half, png[half:])):
        patched = httpx.patch(
            location,
            auth=auth,
            content=chunk,
            headers={"Tus-Resumable": "1.0.0", "Upload-Offset": str(offset)},
        )
        assert patched.status_code == 204 and patched.headers["Upload-Offset"] == str(offset + len(chunk))
    assert httpx.head(location, auth=auth).headers["Upload-Offset"] == str(len(png))
    finished = httpx.post(url, auth=auth, headers={"Upload-Finish": ""}, json={"image_quality": 70})
    assert finished.status_code == 202
    assert httpx.get(f"{stack.gateway_url}/api/tasks/{task.id}", auth=auth).json()["size"] == 1


def test_annotations_put_patch_get_delete(client: Client, tmp_path: Path) -> None:
    task = create_task(client, tmp_path, [noise(1)], [{"name": "car"}])
    label_id = task.get_labels()[0].id
    shape = {"type": "rectangle", "frame": 0, "label_id": label_id, "points": [1.0, 2.0, 3.0, 4.0]}
    task.set_annotations(models.LabeledDataRequest(shapes=[models.LabeledShapeRequest(**shape)]))
    task.update_annotations(
        models.PatchedLabeledDataRequest(shapes=[models.LabeledShapeRequest(**shape)]),
        action=AnnotationUpdateAction.CREATE,
    )
    assert len(task.get_annotations().shapes) == 2
    task.remove_annotations()
    assert task.get_annotations().shapes == []


# --- lambda functions ------------------------------------------------------------------------------


def test_function_list_and_retrieve(client: Client, stack: LocalStack) -> None:
    import json

    _, response = client.api_client.lambda_api.list_functions()
    listed = {item["id"]: item for item in json.loads(response.data)}
    assert "test-lambda-bad-metadata" not in listed
    assert listed["opencv-tracker"]["supported_shape_types"] == ["rectangle"]
    assert listed["test-lambda-tracker"]["supported_shape_types"] == ["polygon", "rectangle"]
    grabcut = listed["opencv-grabcut"]
    assert grabcut["kind"] == "interactor" and "min_pos_points" in grabcut and "help_message" in grabcut
    detector = client.api_client.lambda_api.retrieve_functions(DETECTOR)[0]
    assert detector["labels_v2"][2]["sublabels"][0]["name"] == "1"
    with pytest.raises(exceptions.ServiceException):
        client.api_client.lambda_api.retrieve_functions("test-lambda-bad-metadata")
    with pytest.raises(exceptions.NotFoundException):
        client.api_client.lambda_api.retrieve_functions("no-such-function")


@pytest.fixture(scope="module")
def detector_task(client: Client, tmp_path_factory: pytest.TempPathFactory) -> Any:
    arrays = [noise(i, (40, 50)) for i in range(20)]
    return create_task(client, tmp_path_factory.mktemp("det"), arrays, DETECTOR_LABELS)


def test_detector_online_converts_every_shape_kind(client: Client, detector_task: Any) -> None:
    labels = {label.name: label for label in detector_task.get_labels()}
    status, answer = online(client, DETECTOR, task=detector_task.id, frame=3)  # cvat-sdk sends 3.0
    assert status == 200 and answer["tracks"] == []
    by_type = {shape["type"]: shape for shape in answer["shapes"]}
    car = by_type["rectangle"]
    assert car["frame"] == 3 and car["label_id"] == labels["car"].id and car["points"] == [0, 0, 49, 39]
    color, age = (attr.id for attr in labels["car"].attributes)
    assert car["attributes"] == [{"spec_id": color, "value": "red"}, {"spec_id": age, "value": "31"}]
    mask = by_type["mask"]
    assert mask["points"] == [0, 16, 1, 2, 4, 5]
    assert rle_to_bitmap(mask["points"], (40, 50)).sum() == 16
    skeleton = by_type["skeleton"]
    elements = {e["label_id"]: e for e in skeleton["elements"]}
    third = next(s for s in labels["body"].sublabels if s.name == "3")
    assert elements[third.id]["outside"] is True and elements[third.id]["points"] == [15, 20]
    assert [tag["label_id"] for tag in answer["tags"]] == [labels["weather"].id]
    assert len(answer["shapes"]) == 3  # the label outside the spec is dropped


def test_detector_threshold_only_when_truthy_and_mask_to_polygon(client: Client, detector_task: Any) -> None:
    _, plain = online(client, DETECTOR, task=detector_task.id, frame=0, threshold=0)
    _, with_threshold = online(client, DETECTOR, task=detector_task.id, frame=0, threshold=0.4)
    assert len(with_threshold["shapes"]) == len(plain["shapes"]) + 1
    _, polygons = online(client, DETECTOR, task=detector_task.id, frame=0, conv_mask_to_poly=True)
    polygon = next(s for s in polygons["shapes"] if s["type"] == "polygon")
    assert polygon["points"] == [1, 2, 4, 2, 4, 5, 1, 5]


def test_detector_explicit_mapping(client: Client, detector_task: Any) -> None:
    labels = {label.name: label for label in detector_task.get_labels()}
    _, answer = online(client, DETECTOR, task=detector_task.id, frame=0, mapping={"car": {"name": "vehicle"}})
    assert [s["label_id"] for s in answer["shapes"]] == [labels["vehicle"].id] and answer["tags"] == []
    for mapping, message in (
        ({"bus": {"name": "car"}}, 'Unknown model label "bus"'),
        ({"car": {"name": "bus"}}, 'Unknown db label "bus"'),
        ({"car": {"name": "person"}}, "are not compatible"),
    ):
        status, error = online(client, DETECTOR, task=detector_task.id, frame=0, mapping=mapping)
        assert status == 400 and message in error


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"frame": 0}, 400, "`test-lambda-detector` lambda function was run with wrong arguments ('task')"),
        # CVAT's DRF ValidationErrors come as a one-item list (checked on a real CVAT 2.73), its views' own as a string
        ({"task": "TASK", "frame": 99}, 400, ["Invalid frame '99'. The frame number should be in the [0, "]),
        ({"job": "JOB", "frame": 99}, 400, "outside the job range"),
        ({"job": "JOB", "task": 99999, "frame": 99}, 400, "outside the job range"),  # online: the job's task
        ({"task": "TASK", "frame": 1.5}, 400, "integer"),
        ({"task": "TASK"}, 400, "`test-lambda-detector` lambda function was called without mandatory argument: frame"),
        ({"task": 99999, "frame": 0}, 400, ["Task matching query does not exist."]),
        ({"job": 99999, "frame": 0}, 400, ["Job matching query does not exist."]),
    ],
)
def test_detector_call_errors(client: Client, detector_task: Any, body: dict, status: int, message: Any) -> None:
    (job,) = detector_task.get_jobs()
    body = {
        k: {"TASK": detector_task.id, "JOB": job.id}.get(v, v) if isinstance(v, str) else v for k, v in body.items()
    }
    got, error = online(client, DETECTOR, **body)
    if isinstance(message, list):
        assert got == status and isinstance(error, list) and len(error) == 1 and message[0] in error[0], error
    else:
        assert got == status and isinstance(error, str) and message in error, error


def test_function_errors_pass_through(client: Client, detector_task: Any) -> None:
    status, error = online(client, "test-raising", task=detector_task.id, frame=0)
    assert status == 500 and "the handler broke" in error
    status, error = online(client, "no-such-function", task=detector_task.id, frame=0)
    assert status == 404


def test_unreachable_and_slow_dashboards_map_to_503_and_504(stack: LocalStack) -> None:
    from cvat_serverless.processor import free_port

    with pytest.raises(GatewayError) as unreachable:
        NuclioClient(NuclioSettings(host="127.0.0.1", port=free_port())).list()
    assert unreachable.value.status == 503
    slow = NuclioClient(NuclioSettings(host="127.0.0.1", port=stack.dashboard_port, timeout_s=0.001))
    with pytest.raises(GatewayError) as timeout:
        slow.invoke(slow.get(DETECTOR), {"image": ""})
    assert timeout.value.status == 504


def test_interactor_online(client: Client, tmp_path: Path) -> None:
    image = np.zeros((80, 100, 3), np.uint8)
    image[20:60, 30:70] = 230
    task = create_task(client, tmp_path, [image], [])
    status, error = online(client, "opencv-grabcut", task=task.id, frame=0, neg_points=[])
    assert status == 400 and "pos_points" in error
    status, answer = online(
        client,
        "opencv-grabcut",
        task=task.id,
        frame=0,
        pos_points=[[50, 40]],
        neg_points=[],
        obj_bbox=[[25, 15], [75, 65]],
    )
    assert status == 200 and "shapes" in answer


def test_legacy_tracker_states_are_signed(client: Client, tmp_path: Path) -> None:
    frames = [np.roll(data.astronaut()[:200, :200], shift, axis=1) for shift in (0, 4)]
    task = create_task(client, tmp_path, frames, [])
    box = {"type": "rectangle", "points": [150, 60, 210, 130]}
    status, first = online(client, "opencv-tracker", task=task.id, frame=0, shapes=[box])
    assert status == 200 and isinstance(first["states"][0], str)
    status, second = online(client, "opencv-tracker", task=task.id, frame=1, states=first["states"])
    assert status == 200 and second["shapes"][0]["type"] == "rectangle"
    assert second["shapes"][0]["points"][0] > box["points"][0]
    tampered = first["states"][0][:-3] + ("AAA" if not first["states"][0].endswith("AAA") else "BBB")
    status, error = online(client, "opencv-tracker", task=task.id, frame=1, states=[tampered])
    assert status == 400 and error == "Invalid or expired tracker state"
    status, error = online(client, "opencv-tracker", task=task.id, frame=0, shapes=[{"type": "polygon", "points": [1]}])
    assert status == 400 and "does not support shapes of type 'polygon'" in error


def test_declared_tracker_gets_whole_shapes(client: Client, tmp_path: Path) -> None:
    task = create_task(client, tmp_path, [noise(1), noise(2)], [])
    polygon = {"type": "polygon", "points": [1, 1, 5, 1, 5, 5]}
    _, first = online(client, "test-lambda-tracker", task=task.id, frame=0, shapes=[polygon])
    assert first["shapes"] == [{"type": "polygon", "points": [2, 2, 6, 2, 6, 6]}]
    _, second = online(client, "test-lambda-tracker", task=task.id, frame=1, states=first["states"])
    assert second["shapes"][0]["points"] == [3, 3, 7, 3, 7, 7]
    other = online(client, "opencv-tracker", task=task.id, frame=1, states=first["states"])
    assert other[0] == 400  # a state is bound to the function that issued it


def test_reid_online(client: Client, tmp_path: Path) -> None:
    astronaut = data.astronaut()[:256, :256]
    task = create_task(client, tmp_path, [astronaut, astronaut], [{"name": "person"}])
    boxes = [{"type": "rectangle", "points": [150, 40, 280 - 30, 200], "label_id": 1, "frame": 0}]
    status, answer = online(
        client, "pth-levan92-deepsort-mobilenetv2-reid", task=task.id, frame0=0, frame1=1, boxes0=boxes, boxes1=boxes
    )
    assert status == 200 and answer == [0]
    _, empty = online(
        client, "pth-levan92-deepsort-mobilenetv2-reid", task=task.id, frame0=0, frame1=1, boxes0=boxes, boxes1=[]
    )
    assert empty == []


# --- requests --------------------------------------------------------------------------------------


def test_whole_task_request(client: Client, detector_task: Any) -> None:
    call = submit(client, function=DETECTOR, task=detector_task.id, cleanup=True, threshold=0.5)
    assert call.status in ("queued", "started") and call.function["task"] == detector_task.id
    with pytest.raises(exceptions.ApiException) as conflict:
        submit(client, function=DETECTOR, task=detector_task.id)
    assert conflict.value.status == 409
    listed, _ = client.api_client.lambda_api.list_requests()
    assert call.id in [item.id for item in listed]
    done = wait_request(client, call.id)
    assert done.status == "finished" and done.progress == 100
    annotations = detector_task.get_annotations()
    assert len(annotations.shapes) == 20 * 4 and len(annotations.tags) == 20
    assert {shape.frame for shape in annotations.shapes} == set(range(20))
    again = wait_request(client, submit(client, function=DETECTOR, task=detector_task.id, cleanup=True).id)
    assert again.status == "finished" and len(detector_task.get_annotations().shapes) == 20 * 3


def test_cancel_keeps_partial_results(client: Client, detector_task: Any) -> None:
    call = submit(client, function=DETECTOR, task=detector_task.id, cleanup=True)
    deadline = time.monotonic() + 30
    while client.api_client.lambda_api.retrieve_requests(call.id)[0].progress < 10:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    client.api_client.lambda_api.delete_requests(call.id)
    with pytest.raises(exceptions.NotFoundException):
        client.api_client.lambda_api.retrieve_requests(call.id)
    time.sleep(1.5)
    frames = {shape.frame for shape in detector_task.get_annotations().shapes}
    assert 2 <= len(frames) < 20


def test_request_errors(client: Client, detector_task: Any) -> None:
    with pytest.raises(exceptions.NotFoundException):
        submit(client, function="no-such-function", task=detector_task.id)
    with pytest.raises(exceptions.ApiException) as bad_mapping:
        submit(
            client,
            function=DETECTOR,
            task=detector_task.id,
            mapping={"bus": models.LabelMappingEntryRequest(name="car")},
        )
    assert bad_mapping.value.status == 400
    with pytest.raises(exceptions.NotFoundException):
        client.api_client.lambda_api.retrieve_requests("lambda-nothing")


def test_reid_request_chains_boxes_into_tracks(client: Client, tmp_path: Path) -> None:
    astronaut = data.astronaut()[:256, :256]
    task = create_task(client, tmp_path, [astronaut] * 3, [{"name": "person", "type": "rectangle"}])
    label_id = task.get_labels()[0].id
    shapes = [
        models.LabeledShapeRequest(type="rectangle", frame=f, label_id=label_id, points=[120.0, 30.0, 250.0, 200.0])
        for f in range(3)
    ]
    task.set_annotations(models.LabeledDataRequest(shapes=shapes))
    done = wait_request(client, submit(client, function="pth-levan92-deepsort-mobilenetv2-reid", task=task.id).id)
    assert done.status == "finished", done.exc_info
    annotations = task.get_annotations()
    assert annotations.shapes == [] and len(annotations.tracks) == 1
    assert [shape.frame for shape in annotations.tracks[0].shapes] == [0, 1, 2]


# --- the tracking action ---------------------------------------------------------------------------


def track_request(stack: LocalStack, **body: Any) -> httpx.Response:
    return httpx.post(f"{stack.gateway_url}/api/lambda/tracking", json=body, auth=("admin", "admin"))


def test_tracking_action_shapes_and_tracks(client: Client, stack: LocalStack, tmp_path: Path) -> None:
    task = create_task(client, tmp_path, [noise(i) for i in range(6)], [{"name": "thing"}])
    label = task.get_labels()[0].id
    polygon = models.LabeledShapeRequest(type="polygon", frame=1, label_id=label, points=[1.0, 1.0, 9.0, 1.0, 9.0, 9.0])
    task.set_annotations(models.LabeledDataRequest(shapes=[polygon]))
    answer = track_request(stack, function="test-lambda-tracker", task=task.id, frame=1, target_frame=4)
    assert answer.status_code == 200, answer.text
    assert wait_request(client, answer.json()["id"]).status == "finished"
    shapes = sorted(task.get_annotations().shapes, key=lambda s: s.frame)
    assert [s.frame for s in shapes] == [1, 2, 3, 4]
    # the fixture moves a shape by 1 px per call, the initial call included
    assert shapes[-1].points == [5.0, 5.0, 13.0, 5.0, 13.0, 13.0] and shapes[-1].source == "semi-auto"

    task.set_annotations(models.LabeledDataRequest(shapes=[polygon]))
    answer = track_request(
        stack, function="test-lambda-tracker", task=task.id, frame=1, target_frame=3, convert_polygons_to_tracks=True
    )
    assert wait_request(client, answer.json()["id"]).status == "finished"
    annotations = task.get_annotations()
    assert annotations.shapes == [] and len(annotations.tracks) == 1
    assert [s.frame for s in annotations.tracks[0].shapes] == [1, 2, 3]


def test_tracking_action_errors_and_cancel(client: Client, stack: LocalStack, tmp_path: Path) -> None:
    task = create_task(client, tmp_path, [noise(i, (16, 16)) for i in range(40)], [{"name": "thing"}])
    label = task.get_labels()[0].id
    assert track_request(stack, function=DETECTOR, task=task.id, frame=0, target_frame=3).status_code == 400
    assert track_request(stack, function="test-lambda-tracker", task=task.id, frame=0).status_code == 400
    empty = track_request(stack, function="test-lambda-tracker", task=task.id, frame=0, target_frame=3)
    assert "no shapes" in wait_request(client, empty.json()["id"]).exc_info
    box = models.LabeledShapeRequest(type="rectangle", frame=0, label_id=label, points=[1.0, 1.0, 5.0, 5.0])
    task.set_annotations(models.LabeledDataRequest(shapes=[box]))
    answer = track_request(stack, function="test-lambda-tracker", task=task.id, frame=0, target_frame=39)
    rq_id = answer.json()["id"]
    deadline = time.monotonic() + 30
    while client.api_client.lambda_api.retrieve_requests(rq_id)[0].progress < 10:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    client.api_client.lambda_api.delete_requests(rq_id)
    time.sleep(1.0)
    frames = {shape.frame for shape in task.get_annotations().shapes}
    assert 3 <= len(frames) < 40


# --- CVAT 2.73: function objects, roi, text_prompts, unknown tasks, delete, reid cleanup --------------


def call(stack: LocalStack, func_id: str, **body: Any) -> tuple[int, Any]:
    """An online call over plain HTTP (cvat-sdk would refuse some of the malformed bodies itself)."""
    answer = httpx.post(f"{stack.gateway_url}/api/lambda/functions/{func_id}", json=body, auth=("admin", "admin"))
    return answer.status_code, answer.json()


def post_request(stack: LocalStack, **body: Any) -> httpx.Response:
    return httpx.post(f"{stack.gateway_url}/api/lambda/requests", json=body, auth=("admin", "admin"))


def decode_mask(points: list[float], shape: tuple[int, int]) -> np.ndarray:
    """cvat-core's reading of a mask shape: RLE (zero run first) over the inclusive box in the last 4 numbers."""
    xtl, ytl, xbr, ybr = (int(v) for v in points[-4:])
    values = np.repeat(np.arange(len(points) - 4) % 2, np.asarray(points[:-4], dtype=np.int64))
    full = np.zeros(shape, dtype=bool)
    full[ytl : ybr + 1, xtl : xbr + 1] = values.reshape(ybr - ytl + 1, xbr - xtl + 1).astype(bool)
    return full


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def box_iou(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return w * h / (area - w * h)


BASE_KEYS = {"id", "kind", "labels_v2", "description", "name", "version"}


def test_function_objects_have_exactly_cvat_273_keys(client: Client) -> None:
    """``LambdaFunction.to_dict``: base keys for all; interactor extras with int()/bool(str) types; trackers' shapes."""
    import json

    _, response = client.api_client.lambda_api.list_functions()
    listed = {item["id"]: item for item in json.loads(response.data)}
    scripted = listed["test-lambda-interactor"]
    assert scripted == {
        "id": "test-lambda-interactor",
        "kind": "interactor",
        "labels_v2": [],
        "description": "scripted interactor for gateway tests",
        "name": "Scripted interactor",
        "version": 3,
        "min_pos_points": 2,
        "min_neg_points": 0,
        "startswith_box": True,  # CVAT: bool("false")
        "startswith_box_optional": False,
        "help_message": "click twice",
        "animated_gif": "https://example.invalid/help.gif",
    }
    grabcut = listed["opencv-grabcut"]
    assert set(grabcut) == BASE_KEYS | {
        "min_pos_points",
        "min_neg_points",
        "startswith_box",
        "startswith_box_optional",
        "help_message",
        "animated_gif",
    }
    assert (grabcut["min_pos_points"], grabcut["min_neg_points"], grabcut["version"]) == (1, 0, 2)
    assert grabcut["startswith_box"] is False and grabcut["startswith_box_optional"] is True
    assert grabcut["animated_gif"] == ""
    assert set(listed[DETECTOR]) == BASE_KEYS and listed[DETECTOR]["version"] == 1
    assert set(listed["pth-levan92-deepsort-mobilenetv2-reid"]) == BASE_KEYS
    assert set(listed["opencv-tracker"]) == BASE_KEYS | {"supported_shape_types"}
    assert client.api_client.lambda_api.retrieve_functions("test-lambda-interactor")[0] == scripted


def test_request_body_errors_are_drfs_all_at_once(stack: LocalStack) -> None:
    """FunctionCallRequestSerializer runs before CVAT's view: every bad field in one DRF body."""
    answer = post_request(stack, task="x", job=None, threshold="high", cleanup="maybe", max_distance="far")
    assert answer.status_code == 400
    assert answer.json() == {
        "function": ["This field is required."],
        "task": ["A valid integer is required."],
        "job": ["This field may not be null."],
        "max_distance": ["A valid integer is required."],
        "threshold": ["A valid number is required."],
        "cleanup": ["Must be a valid boolean."],
    }
    blank = post_request(stack, function="  ", task=1, cleanup="yes", conv_mask_to_poly=0)
    assert (blank.status_code, blank.json()) == (400, {"function": ["This field may not be blank."]})


def test_unknown_task_is_400_on_requests(stack: LocalStack) -> None:
    answer = post_request(stack, function=DETECTOR, task=99999)
    assert answer.status_code == 400 and answer.json() == ["Task matching query does not exist."]


@pytest.fixture(scope="module")
def roi_task(client: Client, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Three 50x40 frames with the detector's labels."""
    return create_task(client, tmp_path_factory.mktemp("roi"), [noise(i, (40, 50)) for i in range(3)], DETECTOR_LABELS)


def test_roi_detector_online_moves_every_shape_back(client: Client, stack: LocalStack, roi_task: Any) -> None:
    """[11, 8, 31, 38] -> a 20x30 crop; points move by (11, 8), a mask keeps its RLE and moves its box."""
    _, plain = call(stack, DETECTOR, task=roi_task.id, frame=1)
    status, answer = call(stack, DETECTOR, task=roi_task.id, frame=1, roi=[11, 8, 31, 38])
    assert status == 200
    by_type = {shape["type"]: shape for shape in answer["shapes"]}
    assert by_type["rectangle"]["points"] == [11, 8, 11 + 19, 8 + 29]  # the function saw a 20x30 image
    assert by_type["mask"]["points"] == [0, 16, 12, 10, 15, 13]
    assert {s["type"] for s in plain["shapes"]} == set(by_type)
    elements = sorted(by_type["skeleton"]["elements"], key=lambda e: e["points"])
    assert [e["points"] for e in elements] == [[21, 18], [26, 28], [31, 38]]  # the missing one at the moved centre
    assert [e["outside"] for e in elements] == [False, True, False]
    assert answer["tags"] == plain["tags"]
    _, polygons = call(stack, DETECTOR, task=roi_task.id, frame=1, roi=[11, 8, 31, 38], conv_mask_to_poly=True)
    polygon = next(s for s in polygons["shapes"] if s["type"] == "polygon")
    assert polygon["points"] == [12, 10, 15, 10, 15, 13, 12, 13]


ROI_ONLINE_ERRORS = [
    ([0, 0, 10], "ROI must contain four integer coordinates: [xtl, ytl, xbr, ybr]"),
    ([0, 0, 10, 10, 10], "ROI must contain four integer coordinates: [xtl, ytl, xbr, ybr]"),
    ([0, 0, 10.0, 10], "ROI must contain four integer coordinates: [xtl, ytl, xbr, ybr]"),
    ([True, 0, 10, 10], "ROI must contain four integer coordinates: [xtl, ytl, xbr, ybr]"),
    ("0,0,10,10", "ROI must contain four integer coordinates: [xtl, ytl, xbr, ybr]"),
    ([-1, 0, 10, 10], "ROI coordinates must be non-negative"),
    ([10, 10, 10, 20], "ROI size must be positive"),
    ([10, 10, 20, 10], "ROI size must be positive"),
    ([0, 0, 51, 40], "ROI is outside the image"),
    ([0, 0, 50, 41], "ROI is outside the image"),
]


@pytest.mark.parametrize(("roi", "message"), ROI_ONLINE_ERRORS)
def test_roi_online_errors(stack: LocalStack, roi_task: Any, roi: Any, message: str) -> None:
    status, error = call(stack, DETECTOR, task=roi_task.id, frame=0, roi=roi)
    assert (status, error) == (400, [message])  # CVAT's ROIHelper raises DRF's ValidationError: a list
    body = {"task": roi_task.id, "frame": 0, "pos_points": [[1, 1], [2, 2]], "neg_points": [], "roi": roi}
    status, error = call(stack, "test-lambda-interactor", **body)
    assert (status, error) == (400, [message])


def test_roi_refused_on_trackers_and_reid(stack: LocalStack, roi_task: Any) -> None:
    box = {"type": "rectangle", "points": [1, 1, 5, 5]}
    status, error = call(stack, "test-lambda-tracker", task=roi_task.id, frame=0, shapes=[box], roi=[0, 0, 5, 5])
    assert (status, error) == (400, "ROI is not supported for tracker functions")
    body = {"frame0": 0, "frame1": 1, "boxes0": [box], "boxes1": [box], "roi": [0, 0, 5, 5]}
    status, error = call(stack, "pth-levan92-deepsort-mobilenetv2-reid", task=roi_task.id, **body)
    assert (status, error) == (400, "ROI is not supported for reid functions")


@pytest.mark.parametrize(
    ("roi", "message"),
    [
        # FunctionCallRequestSerializer's errors: DRF's body; then CVAT's view's own texts, bare strings
        (None, {"roi": ["This field may not be null."]}),
        ("0,0,10,10", {"roi": ['Expected a list of items but got type "str".']}),
        ([0, 0, 10], {"roi": ["Ensure this field has at least 4 elements."]}),
        ([0, 0, 10, 10, 10], {"roi": ["Ensure this field has no more than 4 elements."]}),
        ([0, 0, "x", 10], {"roi": {"2": ["A valid integer is required."]}}),
        ([0, 0, 10.5, None], {"roi": {"2": ["A valid integer is required."], "3": ["This field may not be null."]}}),
        ([True, 0, 10, 10], {"roi": {"0": ["A valid integer is required."]}}),
        ([-1, 0, 10, 10], ["ROI coordinates must be non-negative"]),
        ([10, 10, 10, 20], ["ROI size must be positive"]),
        ([0, 0, 51, 40], ["ROI is outside the image"]),
    ],
)
def test_roi_request_errors(stack: LocalStack, roi_task: Any, roi: Any, message: str) -> None:
    answer = post_request(stack, function=DETECTOR, task=roi_task.id, roi=roi)
    assert (answer.status_code, answer.json()) == (400, message)


def test_roi_request_refusals_by_kind_and_frame_sizes(client: Client, stack: LocalStack, tmp_path: Path) -> None:
    mixed = create_task(client, tmp_path, [noise(1, (40, 50)), noise(2, (30, 50))], DETECTOR_LABELS)
    answer = post_request(stack, function="test-lambda-interactor", task=mixed.id, roi=[0, 0, 5, 5])
    assert (answer.status_code, answer.json()) == (400, "ROI is not supported for interactor functions")
    answer = post_request(stack, function=DETECTOR, task=mixed.id, roi=[0, 0, 5, 5])
    assert answer.status_code == 400
    assert answer.json() == [
        "ROI can be used for task annotation only when all processed frames have the same resolution"
    ]
    assert mixed.id not in [item.function["task"] for item in client.api_client.lambda_api.list_requests()[0]]


def test_roi_request_annotates_every_frame_in_the_region(client: Client, roi_task: Any) -> None:
    done = wait_request(
        client, submit(client, function=DETECTOR, task=roi_task.id, cleanup=True, roi=[10, 5, 30, 35]).id
    )
    assert done.status == "finished", done.exc_info
    rectangles = [s for s in roi_task.get_annotations().shapes if s.type.value == "rectangle"]
    assert sorted(s.frame for s in rectangles) == [0, 1, 2]
    assert {tuple(s.points) for s in rectangles} == {(10.0, 5.0, 29.0, 34.0)}
    masks = [s for s in roi_task.get_annotations().shapes if s.type.value == "mask"]
    assert {tuple(s.points[-4:]) for s in masks} == {(11.0, 7.0, 14.0, 10.0)}


def test_interactor_roi_moves_prompts_in_and_shapes_out(client: Client, stack: LocalStack, roi_task: Any) -> None:
    body = {"pos_points": [[22, 33], [40, 30]], "neg_points": [[12, 14]], "obj_bbox": [[11, 8], [31, 38]]}
    status, answer = call(stack, "test-lambda-interactor", task=roi_task.id, frame=0, roi=[11, 8, 31, 38], **body)
    assert status == 200
    received = answer["received"]
    assert received["size"] == [20, 30] and received["format"] == "PNG"
    assert received["pos_points"] == [[11, 25], [29, 22]] and received["neg_points"] == [[1, 6]]
    assert received["obj_bbox"] == [[0, 0], [20, 30]] and received["text_prompts"] is None
    mask, polygon = answer["shapes"]
    assert mask["points"] == [0, 9, 21, 32, 23, 34] and mask["attributes"] == [{"spec_id": 0, "value": "0.9"}]
    assert decode_mask(mask["points"], (40, 50))[33, 22]  # the clicked pixel, in the full frame
    assert polygon["points"] == [22, 33, 24, 33, 24, 35]
    _, plain = call(stack, "test-lambda-interactor", task=roi_task.id, frame=0, **body)
    assert plain["received"]["size"] == [50, 40] and plain["received"]["pos_points"] == body["pos_points"]
    assert plain["shapes"][0]["points"] == [0, 9, 21, 32, 23, 34]


def test_interactor_legacy_dense_mask_is_pasted_into_the_region(
    client: Client, stack: LocalStack, roi_task: Any
) -> None:
    body = {"pos_points": [[22, 33]], "neg_points": [], "threshold": 0.25}
    status, answer = call(stack, "test-lambda-interactor", task=roi_task.id, frame=0, roi=[11, 8, 31, 38], **body)
    assert status == 200 and answer["received"]["threshold"] == 0.25
    mask = np.asarray(answer["mask"])
    assert mask.shape == (40, 50) and np.argwhere(mask).tolist() == [[33, 22]]
    status, answer = online(
        client, "test-lambda-interactor", task=roi_task.id, frame=0, roi=[11, 8, 31, 38], **{**body, "threshold": 0.5}
    )
    assert status == 200 and answer["blob"] == "AAAAAA=="  # SAM's embedding passes untouched


def test_interactor_text_prompts_and_point_pairs(stack: LocalStack, roi_task: Any) -> None:
    body = {"task": roi_task.id, "frame": 0, "pos_points": [[1, 2], [3, 4]], "neg_points": []}
    status, answer = call(stack, "test-lambda-interactor", **body, text_prompts=["a red car"])
    assert status == 200 and answer["received"]["text_prompts"] == ["a red car"]
    _, answer = call(stack, "test-lambda-interactor", **body, text_prompts=[])
    assert "text_prompts" not in answer["received"]["keys"]  # CVAT passes them only when non-empty
    assert answer["received"]["keys"] == ["image", "neg_points", "obj_bbox", "pos_points"]
    for bad in ([[1, 2, 3]], [1, 2], [["a", 2]], 5):
        status, error = call(stack, "test-lambda-interactor", **{**body, "pos_points": bad})
        assert (status, error) == (400, ["Interactor prompt points must contain point pairs"])


def test_interactor_roi_keeps_a_jpeg_frame_jpeg(client: Client, stack: LocalStack, tmp_path: Path) -> None:
    path = tmp_path / "frame.jpg"
    Image.fromarray(noise(3, (40, 50))).save(path, format="JPEG")
    task = client.tasks.create_from_data(spec={"name": "jpeg", "labels": []}, resources=[str(path)])
    body = {"pos_points": [[5, 5]], "neg_points": []}
    _, answer = call(stack, "test-lambda-interactor", task=task.id, frame=0, roi=[2, 3, 12, 23], **body)
    assert answer["received"]["format"] == "JPEG" and answer["received"]["size"] == [10, 20]


def test_grabcut_roi_lands_on_the_object(client: Client, stack: LocalStack, tmp_path: Path) -> None:
    """A real interactor on an off-centre object: placed as cvat-core places it, with and without a region."""
    image = np.full((160, 220, 3), 30, np.uint8)
    image[90:141, 130:181] = (220, 60, 40)
    truth = np.zeros((160, 220), bool)
    truth[90:141, 130:181] = True
    task = create_task(client, tmp_path, [image], [])
    body = {"pos_points": [[155, 115]], "neg_points": [], "obj_bbox": [[122, 82], [189, 149]]}
    for roi in (None, [110, 70, 200, 158]):
        extra = {} if roi is None else {"roi": roi}
        status, answer = call(stack, "opencv-grabcut", task=task.id, frame=0, **body, **extra)
        assert status == 200 and answer["shapes"][0]["type"] == "mask", answer
        assert iou(decode_mask(answer["shapes"][0]["points"], truth.shape), truth) > 0.8, roi


def test_mtcnn_roi_finds_the_face_where_it_is(client: Client, stack: LocalStack, tmp_path: Path) -> None:
    """A real detector on a crop: the face box comes back in full-frame coordinates."""
    canvas = np.full((600, 760, 3), 128, np.uint8)
    canvas[60:572, 200:712] = data.astronaut()
    task = create_task(client, tmp_path, [canvas], [{"name": "face", "type": "rectangle"}])
    _, full = call(stack, "pth-timesler-mtcnn", task=task.id, frame=0)
    status, cropped = call(stack, "pth-timesler-mtcnn", task=task.id, frame=0, roi=[300, 80, 560, 330])
    assert status == 200 and len(full["shapes"]) == 1 and len(cropped["shapes"]) == 1
    expected = [181.1 + 200, 62.2 + 60, 267.7 + 200, 172.1 + 60]
    assert box_iou(full["shapes"][0]["points"], expected) > 0.8
    assert box_iou(cropped["shapes"][0]["points"], expected) > 0.8


def test_delete_running_request_frees_the_task(client: Client, tmp_path: Path) -> None:
    task = create_task(client, tmp_path, [noise(i, (16, 16)) for i in range(30)], DETECTOR_LABELS)
    call_ = submit(client, function=DETECTOR, task=task.id)
    deadline = time.monotonic() + 30
    while client.api_client.lambda_api.retrieve_requests(call_.id)[0].status != "started":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    client.api_client.lambda_api.delete_requests(call_.id)
    with pytest.raises(exceptions.NotFoundException):
        client.api_client.lambda_api.retrieve_requests(call_.id)
    again = submit(client, function=DETECTOR, task=task.id, cleanup=True)  # accepted at once, no 409
    assert again.status in ("queued", "started")
    done = wait_request(client, again.id)
    assert done.status == "finished" and done.progress == 100


def test_reid_request_with_cleanup_runs_on_what_is_left(client: Client, tmp_path: Path) -> None:
    """CVAT deletes the annotations first, so ReID finds no boxes and the request finishes empty."""
    astronaut = data.astronaut()[:256, :256]
    task = create_task(client, tmp_path, [astronaut] * 2, [{"name": "person", "type": "rectangle"}])
    label_id = task.get_labels()[0].id
    shapes = [
        models.LabeledShapeRequest(type="rectangle", frame=f, label_id=label_id, points=[120.0, 30.0, 250.0, 200.0])
        for f in range(2)
    ]
    task.set_annotations(models.LabeledDataRequest(shapes=shapes))
    call_ = submit(client, function="pth-levan92-deepsort-mobilenetv2-reid", task=task.id, cleanup=True)
    done = wait_request(client, call_.id)
    assert done.status == "finished", done.exc_info
    annotations = task.get_annotations()
    assert annotations.shapes == [] and annotations.tracks == []


def test_hostile_bodies_are_400s_on_the_gateway(client: Client) -> None:
    """Deep nesting and over-long integers were a bare 500 and a reset connection (issue 13)."""
    url = f"{client.api_client.configuration.host}/api/lambda/functions/{DETECTOR}"
    auth = ("admin", "admin")
    headers = {"Content-Type": "application/json"}
    for body in (
        b"[" * 100_000 + b"]" * 100_000,
        b'{"task": ' + b"9" * 5000 + b"}",
        b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}",
    ):
        answer = httpx.post(url, content=body, headers=headers, auth=auth, timeout=60)
        assert answer.status_code == 400, (answer.status_code, answer.text[:200])
    assert httpx.get(f"{client.api_client.configuration.host}/api/lambda/functions", auth=auth).status_code == 200
