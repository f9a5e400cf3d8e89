"""Harness cases on a tiny Segment Anything of the real classes: the blob CVAT's SAM plugin decodes.

The plugin sends its first click (and every later one) with the request and reads ``result.blob``;
so clicks, boxes and an image alone all answer the embedding of the frame (or of the ROI crop).
"""

from pathlib import Path

import numpy as np

from cvat_serverless.harness import Case, Result, sample_image
from cvat_serverless.harness.sam_models import TINY_EMBEDDING_SHAPE, tiny_sam_env


def environment(workdir: Path) -> dict[str, str]:
    return tiny_sam_env(workdir)


def blob_check(result: Result) -> None:
    """What the plugin does with the answer: ``atob(result.blob)`` → a Float32Array of the embedding."""
    import base64

    assert result.status == 200, result.payload
    assert isinstance(result.payload, dict) and isinstance(result.payload.get("blob"), str), (
        f"CVAT's SAM plugin needs 'blob', got {result.payload!r:.200}"
    )
    raw = base64.b64decode(result.payload["blob"], validate=True)
    assert len(raw) == 4 * int(np.prod(TINY_EMBEDDING_SHAPE))
    assert np.isfinite(np.frombuffer(raw, dtype="<f4")).all()


CASES = [
    Case(
        "image only: the embedding blob for CVAT's browser decoder",
        body={"image": sample_image("coffee")},
        check=blob_check,
    ),
    Case(
        "the plugin's first click: still the blob",
        body={"image": sample_image("coffee"), "pos_points": [[300, 200]], "neg_points": [[20, 20]]},
        check=blob_check,
    ),
    Case(
        "a box: the blob (the browser decodes the box)",
        body={
            "image": sample_image("coffee"),
            "pos_points": [],
            "neg_points": [],
            "obj_bbox": [[200, 100], [420, 300]],
        },
        check=blob_check,
    ),
]
