"""Tests for cvat_serverless.runtime: yaml reading, isolated loading, Nuclio's encode/decode rules."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from nuclio_sdk import Response

from common.image import encode_image
from cvat_serverless.runtime import FunctionSpecError, LoadedFunction, encode_output, parse_duration, read_function_spec

FIXTURES = Path(__file__).parent / "fixtures" / "functions"


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600)])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "30", "3x", "s30"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(FunctionSpecError):
        parse_duration(text)


def test_spec_fields_and_defaults(tmp_path: Path) -> None:
    spec = read_function_spec(FIXTURES / "sleeping")
    assert (spec.name, spec.num_workers, spec.event_timeout_s) == ("test-sleeping", 2, 1.0)
    assert spec.worker_availability_timeout_s == 0.2 and spec.max_request_body_size == 65536
    assert spec.env == {"ECHO_GREETING": "hello"}
    (tmp_path / "function.yaml").write_text(
        "metadata: {name: x}\nspec:\n  triggers:\n    t: {kind: http, maxWorkers: 3}\n"
    )
    legacy = read_function_spec(tmp_path)
    assert (legacy.num_workers, legacy.max_request_body_size, legacy.handler) == (3, 4 * 1024 * 1024, "main:handler")
    (tmp_path / "function.yaml").write_text("metadata: {name: x}\nspec: {handler: 'bad handler'}\n")
    with pytest.raises(FunctionSpecError, match="module:function"):
        read_function_spec(tmp_path)


def test_folders_are_isolated_from_each_other() -> None:
    echo = LoadedFunction.load(FIXTURES / "echo")
    sleeping = LoadedFunction.load(FIXTURES / "sleeping")
    try:
        assert echo.invoke({"x": 1}).json()["tag"] == "echo"
        assert sleeping.invoke({"x": 1}).json()["tag"] == "sleeping"
        assert echo.invoke({}).json()["greeting"] == "hello"
    finally:
        echo.close()
        sleeping.close()


def test_spec_env_is_a_default_the_process_environment_and_the_caller_override(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ECHO_GREETING", raising=False)
    echo = LoadedFunction.load(FIXTURES / "echo")
    try:
        assert echo.invoke({}).json()["greeting"] == "hello"
    finally:
        echo.close()
    monkeypatch.setenv("ECHO_GREETING", "from the shell")
    echo = LoadedFunction.load(FIXTURES / "echo")
    try:
        assert echo.invoke({}).json()["greeting"] == "from the shell"
    finally:
        echo.close()
    echo = LoadedFunction.load(FIXTURES / "echo", env={"ECHO_GREETING": "from the test"})
    try:
        assert echo.invoke({}).json()["greeting"] == "from the test"
    finally:
        echo.close()
    assert os.environ["ECHO_GREETING"] == "from the shell"


def test_event_body_is_a_dict_only_for_exact_json_type() -> None:
    echo = LoadedFunction.load(FIXTURES / "echo")
    try:
        assert echo.invoke(b'{"a": 1}').json()["body"] == {"a": 1}
        assert echo.invoke(b'{"a": 1}', content_type="application/json; charset=utf-8").json()["body"] == {"bytes": 8}
        assert echo.invoke(b"{broken", content_type="application/json").json()["body"] == {"bytes": 7}
        assert echo.invoke(b"x", content_type="text/plain").json()["content_type"] == "text/plain"
        response = echo.invoke({})
        assert response.headers["x-echo"] == "1" and response.content_type == "application/json"
    finally:
        echo.close()


def test_exception_is_a_500_with_nuclio_text() -> None:
    raising = LoadedFunction.load(FIXTURES / "raising")
    try:
        response = raising.invoke({})
        assert response.status_code == 500 and response.content_type == "text/plain"
        assert response.body.startswith(b'Exception caught in handler - "the handler broke"')
    finally:
        raising.close()


def test_init_failure_raises_and_restores_environment() -> None:
    with pytest.raises(RuntimeError, match="weights not found"):
        LoadedFunction.load(FIXTURES / "init_fails")


@pytest.mark.parametrize(
    ("kind", "status", "content_type", "body"),
    [
        ("tuple", 201, "application/json", b'{"created": true}'),
        ("str", 200, "text/plain", b"plain text"),
        ("bytes", 200, "text/plain", b"\x00\x01"),
        ("dict", 200, "application/json", b'{"a": 1}'),
        ("list", 200, "application/json", b'{"label": "first"}'),
    ],
)
def test_return_forms(kind: str, status: int, content_type: str, body: bytes) -> None:
    function = LoadedFunction.load(FIXTURES / "bare_list")
    try:
        response = function.invoke({"kind": kind})
        assert (response.status_code, response.content_type, response.body) == (status, content_type, body)
    finally:
        function.close()


def test_bare_list_strict_mode_and_response_objects() -> None:
    assert encode_output([1], strict_list_return=True).status_code == 500
    assert encode_output([]).status_code == 500
    response = encode_output(Response(body=json.dumps([1, 2]), content_type="application/json", status_code=202))
    assert (response.status_code, response.json()) == (202, [1, 2])


def test_deeply_nested_json_is_a_400_and_the_function_lives_on() -> None:
    """100000 '[' then ']' used to kill the worker with a RecursionError in the event builder."""
    from cvat_serverless.runtime import LoadedFunction

    function = LoadedFunction.load(Path(__file__).parents[1] / "serverless/opencv/grabcut/nuclio")
    try:
        for body in (b"[" * 100_000 + b"]" * 100_000, b'{"image": ' + b"[" * 50 + b"]" * 50 + b"}"):
            answer = function.invoke(body)
            assert answer.status_code == 400 and "levels deep" in answer.json()["error"]
        assert function.invoke({"image": "x"}).status_code == 400  # the next request is served
    finally:
        function.close()


def test_huge_integers_are_a_400_not_an_overflow() -> None:
    from cvat_serverless.runtime import LoadedFunction

    function = LoadedFunction.load(Path(__file__).parents[1] / "serverless/opencv/grabcut/nuclio")
    try:
        image = encode_image(np.zeros((20, 20, 3), np.uint8))
        huge = 10**400
        for body in (
            {"image": image, "pos_points": [[huge, 1]]},
            {"image": image, "pos_points": [[1, 1]], "threshold": huge},
        ):
            answer = function.invoke(body)
            assert answer.status_code == 400, answer.json()
            assert "about 401 digits" in answer.json()["error"]
        longer = b'{"image": "x", "threshold": ' + b"9" * 5000 + b"}"  # past Python's int digit limit
        assert function.invoke(longer).status_code == 400
    finally:
        function.close()
