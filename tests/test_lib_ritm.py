"""RITM checkpoints load only allow-listed model classes; clicks map to RITM's (y, x)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from common.errors import InvalidFunctionConfig
from common.ritm_model import ClickSegmenter, load_ritm_model
from cvat_serverless.harness.ritm_models import write_random_ritm_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_ritm_checkpoint(tmp_path_factory.mktemp("ritm") / "h18.pth")


def test_round_trip_and_segment(checkpoint: Path) -> None:
    model = load_ritm_model(checkpoint, torch.device("cpu"))
    mask = ClickSegmenter(model, torch.device("cpu")).segment(np.zeros((40, 60, 3), np.uint8), [[30, 20]], [[1, 1]])
    assert mask.shape == (40, 60) and mask.dtype == bool


def _rewrite(checkpoint: Path, target: Path, change) -> Path:
    data = torch.load(checkpoint, weights_only=True)
    change(data)
    torch.save(data, target)
    return target


def test_unknown_model_class_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    def forge(data: dict) -> None:
        data["config"]["class"] = "os.system"

    with pytest.raises(InvalidFunctionConfig, match="not one of"):
        load_ritm_model(_rewrite(checkpoint, tmp_path / "forged.pth", forge), torch.device("cpu"))


def test_unexpected_class_parameter_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    def forge(data: dict) -> None:
        data["config"]["params"]["norm_layer"] = {"type": "class", "value": "subprocess.Popen", "specified": True}

    with pytest.raises(InvalidFunctionConfig, match="unexpected class"):
        load_ritm_model(_rewrite(checkpoint, tmp_path / "forged.pth", forge), torch.device("cpu"))


def test_missing_weights_are_reported(checkpoint: Path, tmp_path: Path) -> None:
    def drop(data: dict) -> None:
        data["state_dict"] = {}

    with pytest.raises(InvalidFunctionConfig, match="lacks"):
        load_ritm_model(_rewrite(checkpoint, tmp_path / "empty.pth", drop), torch.device("cpu"))
