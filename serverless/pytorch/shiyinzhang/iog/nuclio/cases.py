"""Harness cases for IOG: they need the IOG network code (not on PyPI) and weights, which only the image has.

Put shiyinzhang/Inside-Outside-Guidance, checked out at the yaml's commit, on ``PYTHONPATH`` to run
them. Without ``IOG_WEIGHTS`` they run on seeded random weights of the real network (see
:func:`environment`); the pre/post-processing and the probability threshold are unit-tested without
the code (tests/test_iog_geometry.py).
"""

import importlib.util
import os
from pathlib import Path

from cvat_serverless.harness import Case, Result, sample_image


def _skip_reason() -> str | None:
    if importlib.util.find_spec("networks") is None or importlib.util.find_spec("networks.mainnetwork") is None:
        return "the IOG network code is not importable here; put a clone of Inside-Outside-Guidance on PYTHONPATH"
    weights = os.environ.get("IOG_WEIGHTS")
    if weights and not os.path.exists(weights):
        return f"IOG_WEIGHTS names a missing file ({weights})"
    return None


SKIP_REASON = _skip_reason()
FINAL_LOGIT = 5.0  # the random network's constant output: probability 1 / (1 + e^-5) = 0.9933


def environment(workdir: Path) -> dict[str, str]:
    """``IOG_WEIGHTS`` as given, else a seeded random state dict of the real IOG network (ResNet-101).

    Its last layer (a 1-channel BatchNorm) is set to output the constant logit ``FINAL_LOGIT``, so
    the cases can tell a probability threshold from a threshold on raw logits.
    """
    if os.environ.get("IOG_WEIGHTS"):
        return {}
    import torch
    from networks.mainnetwork import Network  # type: ignore[import-not-found]

    path = workdir / "iog-random.pth"
    if not path.exists():
        torch.manual_seed(0)
        net = Network(nInputChannels=5, num_classes=1, backbone="resnet101", output_stride=16, sync_bn=None)
        with torch.no_grad():
            net.Fine_net.final_predict[2].weight.zero_()
            net.Fine_net.final_predict[2].bias.fill_(FINAL_LOGIT)
        torch.save(net.state_dict(), path)
    return {"IOG_WEIGHTS": str(path)}


def shapes_check(result: Result) -> None:
    assert result.status == 200, result.payload
    assert isinstance(result.payload["shapes"], list)
    for shape in result.payload["shapes"]:
        assert shape["type"] == "mask" and len(shape["points"]) > 4


CAT_BOX = [[140, 20], [420, 300]]


def crop_mask_check(result: Result) -> None:
    """Probability 0.9933 everywhere over the 0.8 default: the mask is the whole padded crop (box + 30 px)."""
    shapes_check(result)
    assert len(result.payload["shapes"]) == 1, result.payload
    assert result.payload["shapes"][0]["points"][-4:] == [110, 0, 450, 299]


def empty_check(result: Result) -> None:
    """Threshold 0.995 is over the probability 0.9933 (a raw-logit threshold would keep the logit 5)."""
    assert result.status == 200, result.payload
    assert result.payload["shapes"] == []


def _body(**extra: object) -> dict:
    return {"image": sample_image("chelsea"), "obj_bbox": CAT_BOX, "pos_points": [], "neg_points": [], **extra}


if os.environ.get("IOG_WEIGHTS"):
    CASES = [Case("the cat in chelsea from its box", body=_body(), check=shapes_check)]
else:
    CASES = [
        Case("random network: the padded crop at the default threshold", body=_body(), check=crop_mask_check),
        Case("random network: threshold is a probability", body=_body(threshold=0.995), check=empty_check),
    ]
