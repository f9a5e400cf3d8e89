"""Harness cases on a synthetic IR with DEXTR's input and output (1×4×512×512 → 1×1×512×512).

The synthetic network answers "the red pixels and the extreme-point heatmap are the object"
(max of input channels 0 and 3, scaled to a probability), so the real loading, channel order,
zero-padded crop, heatmap, thresholding and paste-back all show in the mask: a red ellipse must
come back as itself, also where the image border cuts it, and on a plain image only blobs at the
four clicks remain.
"""

from pathlib import Path

import numpy as np

from cvat_serverless.harness import Case, Result, expect, generated_image
from cvat_serverless.harness.cases import Check
from cvat_serverless.harness.openvino_models import channel_max_model

HEIGHT, WIDTH = 240, 320
RED, BACKGROUND = (230, 40, 30), 35
INNER = ((170, 120), (70, 45))  # centre, axes
CUT = ((20, 120), (60, 40))  # the image's left border cuts this one


def environment(workdir: Path) -> dict[str, str]:
    path = channel_max_model(workdir / "dextr.xml", "input", [1, 4, 512, 512], "output", [0, 3], 1 / 200)
    return {"DEXTR_MODEL": str(path), "CVAT_FN_OV_PRECISION": "f32"}


def _ellipse(centre: tuple[int, int], axes: tuple[int, int]) -> np.ndarray:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    return ((xx - centre[0]) / axes[0]) ** 2 + ((yy - centre[1]) / axes[1]) ** 2 <= 1.0


def _scene(centre: tuple[int, int], axes: tuple[int, int]) -> np.ndarray:
    image = np.full((HEIGHT, WIDTH, 3), BACKGROUND, np.uint8)
    image[_ellipse(centre, axes)] = RED
    return image


def _extremes(centre: tuple[int, int], axes: tuple[int, int]) -> list[list[int]]:
    (cx, cy), (ax, ay) = centre, axes
    return [[max(cx - ax, 0), cy], [cx + ax, cy], [cx, cy - ay], [cx, cy + ay]]


def _blobs_at(points: list[list[int]]) -> Check:
    """Only the heatmap is 'object': the mask spans the points' box, and every point has mask nearby."""
    contract = expect.interactor_mask(min_area=4)

    def check(result: Result) -> None:
        contract(result)
        mask = expect.interactor_masks(result)
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        xtl, ytl, xbr, ybr = int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])
        xs, ys = [x for x, _ in points], [y for _, y in points]
        expected = (min(xs), min(ys), max(xs), max(ys))
        assert all(abs(a - b) <= 3 for a, b in zip((xtl, ytl, xbr, ybr), expected, strict=True)), (
            f"mask bounds {[xtl, ytl, xbr, ybr]} are not the clicks' box {list(expected)}"
        )
        crop = mask[ytl : ybr + 1, xtl : xbr + 1]
        assert crop.mean() < 0.05, f"{crop.mean():.0%} of the clicks' box is mask: more than four blobs"

    return check


PLAIN = generated_image("dextr-plain", lambda: np.full((HEIGHT, WIDTH, 3), BACKGROUND, np.uint8))
INNER_SCENE = generated_image("dextr-red-ellipse", lambda: _scene(*INNER))
POINTS = _extremes(*INNER)

CASES = [
    Case(
        "four extreme points: the red object comes back",
        body={"image": INNER_SCENE, "pos_points": POINTS, "neg_points": []},
        check=expect.interactor_mask(truth=_ellipse(*INNER), min_iou=0.9),
    ),
    Case(
        "an object cut by the image border",
        body={
            "image": generated_image("dextr-red-ellipse-border", lambda: _scene(*CUT)),
            "pos_points": _extremes(*CUT),
            "neg_points": [],
        },
        check=expect.interactor_mask(truth=_ellipse(*CUT), min_iou=0.9),
    ),
    Case(
        "the heatmap carries the clicks",
        body={"image": PLAIN, "pos_points": POINTS, "neg_points": []},
        check=_blobs_at(POINTS),
    ),
    Case(
        "three points are refused",
        body={"image": INNER_SCENE, "pos_points": POINTS[:3], "neg_points": []},
        check=expect.error(400, mentions=["exactly 4", "extreme points"]),
    ),
    Case(
        "five points are refused",
        body={"image": INNER_SCENE, "pos_points": [*POINTS, [100, 100]], "neg_points": []},
        check=expect.error(400, mentions=["exactly 4", "extreme points"]),
    ),
]
