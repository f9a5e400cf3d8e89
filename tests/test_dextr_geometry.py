"""DEXTR's geometry around the network: zero-padded crop, heatmap, input tensor, paste-back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cvat_serverless.harness.discovery import load_module

FOLDER = Path(__file__).parents[1] / "serverless/openvino/dextr/nuclio"
GEOMETRY = load_module(FOLDER / "dextr_geometry.py", "dextr_geometry_t")
EXTREMES = np.array([[60, 120], [260, 110], [150, 70], [160, 190]])  # left, right, top, bottom


def test_crop_box_pads_without_clipping() -> None:
    assert GEOMETRY.crop_box(EXTREMES) == (10, 20, 310, 240)
    assert GEOMETRY.crop_box(EXTREMES, padding=5) == (55, 65, 265, 195)
    assert GEOMETRY.crop_box(np.array([[0.0, 3.7], [9.9, 0.2]])) == (-50, -50, 59, 53)


def test_zero_padded_crop_keeps_the_margin_outside_the_image() -> None:
    image = np.full((20, 30, 3), 7, np.uint8)
    crop = GEOMETRY.zero_padded_crop(image, (-5, -2, 34, 9))
    assert crop.shape == (12, 40, 3)
    assert (crop[2:, 5:35] == 7).all()
    assert (crop[:2] == 0).all() and (crop[:, :5] == 0).all() and (crop[:, 35:] == 0).all()
    inside = GEOMETRY.zero_padded_crop(image, (1, 1, 3, 4))
    assert inside.shape == (4, 3, 3) and (inside == 7).all()


def test_heatmap_peaks_at_the_points() -> None:
    heat = GEOMETRY.heatmap(np.array([[100.0, 50.0], [400.0, 300.0]]))
    assert heat.shape == (512, 512) and heat.max() == 255.0 and heat.min() == 0.0
    assert heat[50, 100] == 255.0 and heat[300, 400] == 255.0
    assert abs(heat[50, 105] - 255.0 / 2) < 1  # sigma 10 is the full width at half maximum
    assert heat[0, 511] < 1e-6


def test_input_tensor_layout_and_point_scaling() -> None:
    image = np.zeros((240, 320, 3), np.uint8)
    image[:, :, 0] = 255
    tensor, box = GEOMETRY.network_input(image, EXTREMES)
    assert tensor.shape == (1, 4, 512, 512) and tensor.dtype == np.float32 and box == (10, 20, 310, 240)
    assert np.allclose(tensor[0, 0, :400], 255, atol=1) and np.allclose(tensor[0, 1], 0, atol=1)
    assert np.allclose(tensor[0, 0, -1], 0, atol=1)  # row 240 of the box is below the image: zeros
    heat = tensor[0, 3]
    for x, y in EXTREMES:
        expected = ((x - 10) * 512 / 301, (y - 20) * 512 / 221)
        window = heat[int(expected[1]) - 3 : int(expected[1]) + 4, int(expected[0]) - 3 : int(expected[0]) + 4]
        assert window.max() > 250, f"no heatmap peak near {(x, y)}"


def test_border_object_keeps_its_margin() -> None:
    """An object touching the left border is placed where an inner one would be: 50 px of zeros first."""
    image = np.full((100, 200, 3), 200, np.uint8)
    tensor, box = GEOMETRY.network_input(image, [[0, 50], [99, 50], [50, 10], [50, 90]])
    assert box == (-50, -40, 149, 140)
    left_margin = round(50 * 512 / 200)
    assert np.allclose(tensor[0, :3, 200:300, : left_margin - 3], 0, atol=1)
    assert np.allclose(tensor[0, :3, 200:300, left_margin + 3 : 300], 200, atol=3)  # cubic overshoot at the edge


def test_paste_back_keeps_the_extreme_points_box() -> None:
    """A 'whole crop is the object' prediction becomes exactly the extreme points' box."""
    box = (10, 20, 310, 240)
    mask = GEOMETRY.paste_back(np.ones((512, 512)), box, 240, 320)
    assert mask.sum() == (260 - 60 + 1) * (190 - 70 + 1) and mask[70:191, 60:261].all()
    border = GEOMETRY.paste_back(np.ones((512, 512)), (-50, -40, 149, 140), 100, 200)
    assert border.sum() == 100 * 81 and border[10:91, 0:100].all()


def test_paste_back_thresholds_at_the_right_place() -> None:
    box = (0, 0, 511, 511)
    half = np.zeros((512, 512))
    half[:, :256] = 0.9  # left half of the crop is the object, above the 0.8 threshold
    left = GEOMETRY.paste_back(half, box, 512, 512, padding=0)
    assert left[:, :254].all() and not left[:, 258:].any()
    assert not GEOMETRY.paste_back(np.full((512, 512), 0.75), box, 512, 512, padding=0).any()


def test_yaml_asks_the_ui_for_exactly_four_points() -> None:
    from common.labels import load_function_config

    annotations = load_function_config(FOLDER, environ={}).annotations
    assert annotations["min_pos_points"] == "4" and annotations["max_pos_points"] == "4"
