"""The harness's real-CVAT transport reads CVAT 2.73's answers as a real server gives them (seen on one)."""

from __future__ import annotations

import numpy as np

from cvat_serverless.harness import Result, expect
from cvat_serverless.harness.lambda_transport import _error_body


def _result(payload: object, transport: str = "cvat") -> Result:
    images = {"image": np.zeros((8, 8, 3), np.uint8)}
    return Result(status=400, payload=payload, body={}, images=images, transport=transport)


def test_cvat_error_bodies_become_the_checks_form() -> None:
    # CVAT's own validation: a bare JSON string, or a list of them (DRF)
    own = _error_body("Invalid or expired tracker state", real_cvat=True)
    assert own == {"error": "Invalid or expired tracker state", "function_message_hidden_by_cvat": False}
    expect.error(400, mentions=["state"])(_result(own))
    assert _error_body(["ROI is outside the image"], real_cvat=True)["error"] == "ROI is outside the image"
    # a function's 4xx: CVAT answers requests' message instead, so its words cannot be checked
    hidden = _error_body(
        "400 Client Error: Bad Request for url: http://127.0.0.1:8070/api/function_invocations", real_cvat=True
    )
    assert hidden["function_message_hidden_by_cvat"] is True
    expect.error(400, mentions=["pos_points"])(_result(hidden))
    # the project's gateway keeps its own form untouched
    assert _error_body({"error": "x"}, real_cvat=False) == {"error": "x"}
