"""Tests for the generated function catalog."""

from __future__ import annotations

import shutil
from pathlib import Path

from cvat_serverless.catalog import catalog_markdown
from cvat_serverless.cli import main

REPO = Path(__file__).parents[1]


def test_rows_come_from_the_yaml_files(tmp_path: Path) -> None:
    root = tmp_path / "serverless"
    shutil.copytree(REPO / "serverless/pytorch/timesler/mtcnn/nuclio", root / "pytorch/timesler/mtcnn/nuclio")
    shutil.copytree(REPO / "serverless/opencv/grabcut/nuclio", root / "opencv/grabcut/nuclio")
    text = catalog_markdown(root)
    assert "| `pth-timesler-mtcnn` | detector | MTCNN face detector | pytorch | 1 | yes | yes |" in text
    assert "| `opencv-grabcut` | interactor | GrabCut | opencv | — | no | yes |" in text


def test_committed_catalog_is_fresh() -> None:
    assert main(["catalog", "--check"]) == 0
