"""Harness cases for detectron2 RetinaNet: they need detectron2 (not on PyPI), which only the image has.

Install detectron2 from the yaml's commit (``pip install --no-build-isolation --no-deps``) in an
environment made from requirements.lock to run them. Without ``DETECTRON2_WEIGHTS`` they run on
seeded random weights of the real R101-FPN RetinaNet in the model zoo's .pkl layout (see
:func:`environment`); the conversion from ``Instances`` to CVAT shapes is unit-tested without
detectron2 (tests/test_detectron2_convert.py).
"""

import importlib.util
import os
import pickle
from pathlib import Path

from cvat_serverless.harness import Case, expect, sample_image


def _skip_reason() -> str | None:
    if importlib.util.find_spec("detectron2") is None:
        return "detectron2 is not importable here (it is not on PyPI; the image installs it from a pinned commit)"
    weights = os.environ.get("DETECTRON2_WEIGHTS")
    if weights and not os.path.exists(weights):
        return f"DETECTRON2_WEIGHTS names a missing file ({weights})"
    return None


SKIP_REASON = _skip_reason()


def environment(workdir: Path) -> dict[str, str]:
    """``DETECTRON2_WEIGHTS`` as given, else seeded random R101-FPN RetinaNet weights, and a small test size.

    A random 101-layer ResNet multiplies activations up to ~1e7 and the decoded boxes overflow, so
    every bottleneck's last norm starts at zero (the zero-init-residual trick: each block passes its
    shortcut) and the class logits' bias at 0 (scores near 0.5 instead of the 1 % prior).
    """
    sizes = {"DETECTRON2_MIN_SIZE": "320", "DETECTRON2_MAX_SIZE": "480"}
    if os.environ.get("DETECTRON2_WEIGHTS"):
        return sizes
    path = workdir / "retinanet-r101-random.pkl"
    if not path.exists():
        _save_random_weights(path)
    return {**sizes, "DETECTRON2_WEIGHTS": str(path)}


def _save_random_weights(path: Path) -> None:
    import torch
    from detectron2 import model_zoo  # type: ignore[import-not-found]
    from detectron2.config import get_cfg  # type: ignore[import-not-found]
    from detectron2.modeling import build_model  # type: ignore[import-not-found]
    from detectron2.modeling.backbone.resnet import BottleneckBlock  # type: ignore[import-not-found]

    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file("COCO-Detection/retinanet_R_101_FPN_3x.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    torch.manual_seed(0)
    model = build_model(cfg)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, BottleneckBlock):
                module.conv3.norm.weight.zero_()
        model.head.cls_score.bias.zero_()
    # The model zoo's layout: numpy arrays under "model", loaded by detectron2's checkpointer by name.
    state = {name: value.numpy() for name, value in model.state_dict().items()}
    with path.open("wb") as file:
        pickle.dump({"model": state, "__author__": "random init for the harness"}, file)


if os.environ.get("DETECTRON2_WEIGHTS"):
    CASES = [
        Case(
            "a cat in chelsea",
            body={"image": sample_image("chelsea")},
            check=expect.detections(labels=None, min_count=1, types=["rectangle"]),
        ),
    ]
else:
    CASES = [
        Case(
            "random network: rectangles at threshold 0",
            body={"image": sample_image("chelsea"), "threshold": 0.0},
            check=expect.detections(min_count=1, types=["rectangle"]),
        ),
        Case(
            "random network: threshold above every score",
            body={"image": sample_image("chelsea"), "threshold": 0.99},
            check=expect.detections(max_count=0),
        ),
    ]
