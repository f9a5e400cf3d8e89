"""Tests for the per-kind contracts (parse + handle) and the shared error mapping."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest
from nuclio_sdk import Context, Event, Logger

from common import detector, interactor, reid, tracker
from common.errors import BadModelOutput, BadRequest, InvalidFunctionConfig, PayloadTooLarge, status_of
from common.image import encode_image
from common.labels import parse_function_config
from common.response import dumps, json_response
from common.shapes import check_detections, keypoint, mask, rectangle, skeleton, tag

IMAGE = encode_image(np.zeros((40, 60, 3), np.uint8))


def _config(kind: str, spec: list[dict[str, Any]] | None = None, **annotations: str) -> Any:
    return parse_function_config(
        {"metadata": {"name": "fn", "annotations": {"type": kind, "spec": json.dumps(spec or []), **annotations}}}
    )


def _context() -> Context:
    logger = Logger(level=50)
    return Context(logger=logger)


def _event(body: Any, content_type: str = "application/json") -> Event:
    return Event(body=body, content_type=content_type)


@dataclass
class _Detector:
    items: list[Any]
    config: Any = field(default_factory=lambda: _config("detector", [{"id": 0, "name": "car"}]))
    default_threshold: float = 0.5
    seen: list[detector.DetectorRequest] = field(default_factory=list)

    def infer(self, request: detector.DetectorRequest) -> list[Any]:
        self.seen.append(request)
        return self.items


def _json(response: Any) -> Any:
    return json.loads(response.body)


def test_detector_answers_a_json_array_in_a_response() -> None:
    model = _Detector([rectangle("car", [1, 2, 10, 20], confidence=np.float32(0.75))])
    response = detector.handle(_context(), _event({"image": IMAGE, "threshold": 0.3}), model)
    assert response.status_code == 200 and response.content_type == "application/json"
    assert _json(response) == [
        {"label": "car", "type": "rectangle", "points": [1.0, 2.0, 10.0, 20.0], "confidence": "0.7500"}
    ]
    assert model.seen[0].threshold == 0.3 and model.seen[0].image.size == (60, 40)


def test_detector_default_threshold_and_bytes_body() -> None:
    model = _Detector([])
    response = detector.handle(_context(), _event(json.dumps({"image": IMAGE}).encode(), "application/json"), model)
    assert response.status_code == 200 and _json(response) == []
    assert model.seen[0].threshold == 0.5


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"{nope", "application/json", "not valid JSON"),
        (b"[]", "application/json", "JSON object"),
        (b"", "application/json", "empty"),
        (b"{}", "text/plain", "Content-Type"),
        ({"image": IMAGE, "threshold": "abc"}, "application/json", "threshold"),
        ({"image": IMAGE, "threshold": True}, "application/json", "threshold"),
        ({"image": IMAGE, "threshold": 1.5}, "application/json", "between"),
        ({}, "application/json", "image"),
    ],
)
def test_detector_bad_requests_are_400_json(body: Any, content_type: str, message: str) -> None:
    response = detector.handle(_context(), _event(body, content_type), _Detector([]))
    assert response.status_code == 400
    assert message in _json(response)["error"]


def test_model_output_is_checked_against_the_spec() -> None:
    response = detector.handle(_context(), _event({"image": IMAGE}), _Detector([rectangle("truck", [0, 0, 1, 1])]))
    assert response.status_code == 500 and "truck" in _json(response)["error"]


def test_unexpected_exception_is_500_without_traceback() -> None:
    class Broken(_Detector):
        def infer(self, request: detector.DetectorRequest) -> list[Any]:
            raise RuntimeError("boom")

    response = detector.handle(_context(), _event({"image": IMAGE}), Broken([]))
    assert response.status_code == 500
    error = _json(response)["error"]
    assert "boom" in error and "Traceback" not in error


def test_check_detections_covers_every_shape_kind() -> None:
    config = _config(
        "detector",
        [
            {"id": 0, "name": "car", "type": "mask"},
            {"id": 1, "name": "scene", "type": "tag"},
            {
                "name": "person",
                "type": "skeleton",
                "svg": "<line></line>",
                "sublabels": [{"name": "nose", "type": "points"}],
            },
        ],
    )
    bitmap = np.zeros((20, 20), bool)
    bitmap[5:10, 5:12] = True
    items = [
        mask("car", bitmap, confidence=0.9),
        tag("scene"),
        skeleton("person", [keypoint("nose", 3, 4, confidence=0.5)]),
    ]
    assert check_detections(items, config) == items
    assert mask("car", np.zeros((3, 3), bool)) is None
    with pytest.raises(BadModelOutput, match="sublabel"):
        check_detections([skeleton("person", [keypoint("ear", 1, 1)])], config)
    with pytest.raises(BadModelOutput, match="points"):
        check_detections([{"label": "car", "type": "polygon", "points": [1, 2]}], None)


def test_strict_json_encoding() -> None:
    assert dumps({"a": np.int64(3), "b": np.arange(2), "c": np.bool_(True)}) == '{"a":3,"b":[0,1],"c":true}'
    with pytest.raises(ValueError):
        dumps(float("nan"))
    assert json_response([1]).body == "[1]"


def test_error_statuses() -> None:
    assert status_of(PayloadTooLarge("x")) == 413
    assert status_of(BadRequest("x")) == 400
    assert status_of(KeyError("x")) == 500


RULES = interactor.InteractorRules(min_pos_points=1, box_or_points=True)


def test_interactor_parses_points_and_box() -> None:
    request = interactor.parse_request(
        {"image": IMAGE, "pos_points": [[1, 2], [3.5, 4]], "neg_points": [], "obj_bbox": [[50, 30], [-5, 2]]}, RULES
    )
    assert request.pos_points.shape == (2, 2) and request.neg_points.shape == (0, 2)
    assert request.obj_bbox == (0.0, 2.0, 50.0, 30.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pos_points": [[100, 2]]}, "outside"),
        ({"pos_points": [[1, 2, 3]]}, "pair"),
        ({"pos_points": "1,2"}, "list"),
        ({"pos_points": [], "obj_bbox": None}, "at least 1"),
        ({"obj_bbox": [[1, 1], [1, 1]]}, "no area"),
        ({"obj_bbox": [1, 2, 3]}, "obj_bbox"),
    ],
)
def test_interactor_bad_prompts(changes: dict[str, Any], message: str) -> None:
    body = {"image": IMAGE, "pos_points": [[1, 2]], "neg_points": [], **changes}
    with pytest.raises(BadRequest, match=message):
        interactor.parse_request(body, RULES)


def test_interactor_rules_from_yaml_annotations() -> None:
    config = _config("interactor", min_pos_points="0", min_neg_points="-1", startswith_box_optional="true")
    rules = interactor.InteractorRules.from_config(config)
    assert rules == interactor.InteractorRules(min_pos_points=0, min_neg_points=0, box_or_points=True)
    assert interactor.InteractorRules.from_config(_config("interactor", startswith_box="true")).box_required


def test_interactor_exact_click_count() -> None:
    """``max_pos_points`` equal to ``min_pos_points`` asks for exactly that many clicks (DEXTR)."""
    config = _config("interactor", min_pos_points="4", max_pos_points="4")
    rules = interactor.InteractorRules.from_config(config)
    assert rules == interactor.InteractorRules(min_pos_points=4, max_pos_points=4)
    rules = replace(rules, pos_points_meaning="extreme points")
    four = [[1, 2], [9, 2], [5, 1], [5, 9]]
    assert len(interactor.parse_request({"image": IMAGE, "pos_points": four, "neg_points": []}, rules).pos_points) == 4
    for points in (four[:3], [*four, [5, 5]]):
        with pytest.raises(BadRequest, match=r"needs exactly 4 \(extreme points\)"):
            interactor.parse_request({"image": IMAGE, "pos_points": points, "neg_points": []}, rules)


def test_interactor_click_count_limits() -> None:
    rules = interactor.InteractorRules(min_pos_points=1, max_pos_points=2)
    assert rules.count_problem(2, has_box=False) is None
    assert "at most 2" in (rules.count_problem(3, has_box=False) or "")
    assert "at least 1" in (rules.count_problem(0, has_box=False) or "")
    assert interactor.InteractorRules.from_config(_config("interactor")).max_pos_points is None
    with pytest.raises(InvalidFunctionConfig, match="below"):
        interactor.InteractorRules(min_pos_points=4, max_pos_points=3)


def test_mask_shapes_are_cvat_rle_over_the_box_placed_where_the_object_is() -> None:
    from cvat_serverless.harness import cvat_core

    bitmap = np.zeros((40, 60), bool)
    bitmap[10:20, 30:35] = True
    answer = interactor.mask_shapes(bitmap, 0.875)
    (shape,) = answer["shapes"]
    assert shape["type"] == "mask" and shape["points"][-4:] == [30, 10, 34, 19]
    assert shape["points"][:-4] == [0, 50]  # the zero run first (empty here), then the 10×5 box full
    assert shape["attributes"] == [{"spec_id": 0, "value": "0.8750"}]
    (placed,) = cvat_core.place(answer, 60, 40)
    assert np.array_equal(placed.bitmap, bitmap) and placed.confidence == 0.875
    assert interactor.mask_shapes(np.zeros((4, 4))) == {"shapes": []}
    assert interactor.mask_shapes(bitmap)["shapes"][0]["attributes"] == []


def test_a_cropped_legacy_mask_lands_at_the_top_left_corner_in_cvat() -> None:
    """Why 'bounds' had to go: cvat-core wraps {"mask"} rows as a box from (0, 0)."""
    from cvat_serverless.harness import cvat_core

    bitmap = np.zeros((40, 60), bool)
    bitmap[10:20, 30:35] = True
    legacy = {"mask": (bitmap[10:20, 30:35].astype(np.uint8) * 255).tolist(), "bounds": [30, 10, 34, 19]}
    (placed,) = cvat_core.place(legacy, 60, 40)
    assert placed.bitmap[0:10, 0:5].all() and not (placed.bitmap & bitmap).any()
    (full,) = cvat_core.place({"mask": (bitmap.astype(np.uint8) * 255).tolist()}, 60, 40)
    assert np.array_equal(full.bitmap, bitmap)


def test_interactor_text_prompts_are_parsed() -> None:
    body = {"image": IMAGE, "pos_points": [[1, 1]], "neg_points": [], "text_prompts": ["a cat", "a dog"]}
    assert interactor.parse_request(body, interactor.InteractorRules()).text_prompts == ("a cat", "a dog")
    with pytest.raises(BadRequest, match="text_prompts"):
        interactor.parse_request({**body, "text_prompts": [1]}, interactor.InteractorRules())


def test_tracker_start_continue_and_shape_types() -> None:
    config = _config("tracker")
    start = tracker.parse_request({"image": IMAGE, "shapes": [[1, 2, 10, 20]], "states": []}, config)
    assert start.shapes[0] == tracker.TrackedShape(type="rectangle", points=(1.0, 2.0, 10.0, 20.0))
    assert start.states == (None,)
    go_on = tracker.parse_request({"image": IMAGE, "states": ["s1", "s2"]}, config)
    assert go_on.shapes == (None, None) and go_on.states == ("s1", "s2")
    with pytest.raises(BadRequest, match="does not support"):
        tracker.parse_request({"image": IMAGE, "shapes": [{"type": "polygon", "points": [1, 2, 3, 4, 5, 6]}]}, config)
    polygon_config = _config("tracker", supported_shape_types="mask,polygon")
    assert tracker.supported_shape_types(polygon_config) == ("mask", "polygon")
    with pytest.raises(BadRequest, match="'shapes' to start"):
        tracker.parse_request({"image": IMAGE}, config)


def test_reid_parses_shapes_and_defaults() -> None:
    box = {"type": "rectangle", "points": [1, 1, 10, 10], "label_id": 3}
    request = reid.parse_request({"image0": IMAGE, "image1": IMAGE, "boxes0": [box], "boxes1": [[2, 2, 9, 9]]})
    assert request.boxes0.tolist() == [[1, 1, 10, 10]] and request.boxes1.shape == (1, 4)
    assert (request.threshold, request.max_distance) == (0.5, 50.0)
    with pytest.raises(BadRequest, match="boxes1"):
        reid.parse_request({"image0": IMAGE, "image1": IMAGE, "boxes0": []})
