"""Tests for ``cvat-serverless invoke``: in-process, over HTTP, errors and --render."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cvat_serverless.cli import main
from cvat_serverless.processor import start_processor

GRABCUT = Path(__file__).parents[1] / "serverless/opencv/grabcut/nuclio"
ECHO = Path(__file__).parent / "fixtures/functions/echo"


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    array = np.zeros((120, 160, 3), np.uint8)
    array[30:90, 40:120] = (220, 40, 40)
    path = tmp_path / "in.png"
    Image.fromarray(array).save(path)
    return path


def test_invoke_in_process_and_render(picture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.png"
    body = json.dumps({"obj_bbox": [[30, 20], [130, 100]], "pos_points": [], "neg_points": []})
    assert main(["invoke", str(GRABCUT), "--image", str(picture), "--body", body, "--render", str(out)]) == 0
    answer = json.loads(capsys.readouterr().out)
    xtl, _, xbr, _ = answer["shapes"][0]["points"][-4:]
    assert xtl <= 42 and xbr >= 118
    assert Image.open(out).size == (160, 120)


def test_invoke_error_exits_non_zero(picture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invoke", str(GRABCUT), "--image", str(picture), "--body", '{"pos_points": [[999, 1]]}']) == 1
    assert "outside" in json.loads(capsys.readouterr().err.strip().splitlines()[-1])["error"]


def test_invoke_over_http(picture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with start_processor(ECHO) as processor:
        assert main(["invoke", str(ECHO), "--image", str(picture), "--url", processor.url, "--body", '{"k": 1}']) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["body"]["k"] == 1 and answer["body"]["image"]
