"""SiamMask and TransT with their upstream code: a fresh worker's first request, and a state continued elsewhere.

Each tracker is loaded twice in this process, as two workers with their own handler: the first
starts tracking on a freshly loaded worker, the second (which never saw the object) continues from
the signed state. Skipped where the upstream code is absent (CI); docs/verification.md runs them
in each function's locked environment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from common.tracker_state import MAX_STATE_BYTES
from cvat_serverless.harness.cases import sample_image
from cvat_serverless.harness.discovery import load_cases
from cvat_serverless.runtime import LoadedFunction

ROOT = Path(__file__).parents[1] / "serverless/pytorch"
TRACKERS = {"siammask": ROOT / "foolwood/siammask/nuclio", "transt": ROOT / "dschoerk/transt/nuclio"}
FACE = [180, 60, 270, 175]


def _iou(a: list[float], b: list[float]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize("name", sorted(TRACKERS))
def test_fresh_workers_start_and_continue(name: str, tmp_path: Path) -> None:
    folder = TRACKERS[name]
    cases = load_cases(folder)
    assert cases is not None
    if cases.SKIP_REASON:
        pytest.skip(cases.SKIP_REASON)
    env = {**cases.environment(tmp_path), "CVAT_FN_STATE_SECRET": "shared-by-both-workers"}
    image = sample_image("astronaut").base64()
    first = LoadedFunction.load(folder, env=env, worker_id=0)
    try:
        started = first.invoke({"image": image, "shapes": [FACE, [20, 300, 120, 400]], "states": []})
        assert started.status_code == 200, started.body[:300]
        states = started.json()["states"]
        assert len(states) == 2 and all(len(state) < MAX_STATE_BYTES for state in states)
        second = LoadedFunction.load(folder, env=env, worker_id=1)
        try:
            for _ in range(2):
                continued = second.invoke({"image": image, "states": states})
                assert continued.status_code == 200, continued.body[:300]
                shapes, states = continued.json()["shapes"], continued.json()["states"]
                assert len(shapes) == 2 and _iou(shapes[0], FACE) >= 0.5, shapes
            print(f"{name}: state sizes {[len(state) for state in states]} bytes")
        finally:
            second.close()
    finally:
        first.close()
