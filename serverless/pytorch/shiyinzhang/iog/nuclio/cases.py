"""Harness cases for IOG: they need the IOG network code (not on PyPI) and weights, which only the image has.

Put a clone of shiyinzhang/Inside-Outside-Guidance on ``PYTHONPATH`` and point ``IOG_WEIGHTS`` at
IOG_PASCAL_SBD.pth to run them; the pre/post-processing is unit-tested without them
(tests/test_iog_geometry.py).
"""

import importlib.util
import os

from cvat_serverless.harness import Case, Result, sample_image


def _skip_reason() -> str | None:
    if importlib.util.find_spec("networks") is None or importlib.util.find_spec("networks.mainnetwork") is None:
        return "the IOG network code is not importable here; put a clone of Inside-Outside-Guidance on PYTHONPATH"
    if not os.path.exists(os.environ.get("IOG_WEIGHTS", "/opt/nuclio/iog/IOG_PASCAL_SBD.pth")):
        return "IOG_PASCAL_SBD.pth is not available here; set IOG_WEIGHTS"
    return None


SKIP_REASON = _skip_reason()


def shapes_check(result: Result) -> None:
    assert result.status == 200, result.payload
    assert isinstance(result.payload["shapes"], list)
    for shape in result.payload["shapes"]:
        assert shape["type"] == "mask" and len(shape["points"]) > 4


CASES = [
    Case(
        "the cat in chelsea from its box",
        body={
            "image": sample_image("chelsea"),
            "obj_bbox": [[140, 20], [420, 300]],
            "pos_points": [],
            "neg_points": [],
        },
        check=shapes_check,
    ),
]
