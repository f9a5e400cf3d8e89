"""DEXTR's geometry around the network: padded crop, heatmap, input tensor, paste-back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cvat_serverless.harness.discovery import load_module

GEOMETRY = load_module(
    Path(__file__).parents[1] / "serverless/openvino/dextr/nuclio/dextr_geometry.py", "dextr_geometry_t"
)


def test_crop_box_pads_and_clips() -> None:
    points = np.array([[60, 120], [260, 110], [150, 70], [160, 190]])
    assert GEOMETRY.crop_box(points, 240, 320) == (10, 20, 310, 239)
    assert GEOMETRY.crop_box(points, 1000, 1000, padding=5) == (55, 65, 265, 195)


def test_heatmap_peaks_at_the_points() -> None:
    heat = GEOMETRY.heatmap(np.array([[100.0, 50.0], [400.0, 300.0]]))
    assert heat.shape == (512, 512) and heat.max() == 255.0
    assert heat[50, 100] == 255.0 and heat[300, 400] == 255.0
    assert heat[50, 110] < 255.0 / 2 + 1  # sigma 10 is the full width at half maximum
    assert heat[0, 511] < 1e-6


def test_input_tensor_layout_and_point_scaling() -> None:
    image = np.zeros((240, 320, 3), np.uint8)
    image[:, :, 0] = 255
    tensor, box = GEOMETRY.network_input(image, [[60, 120], [260, 110], [150, 70], [160, 190]])
    assert tensor.shape == (1, 4, 512, 512) and tensor.dtype == np.float32 and box == (10, 20, 310, 239)
    assert np.allclose(tensor[0, 0], 255) and np.allclose(tensor[0, 1], 0)
    heat = tensor[0, 3]
    y, x = np.unravel_index(np.argmax(heat[:, :200]), heat[:, :200].shape)  # the left point
    assert abs(x - (60 - 10) * 512 / 301) <= 1 and abs(y - (120 - 20) * 512 / 220) <= 1


def test_paste_back_lands_on_the_crop() -> None:
    """With the prediction stubbed as 'everything inside the crop', the mask is exactly the crop box."""
    box = (10, 20, 310, 239)
    mask = GEOMETRY.paste_back(np.ones((512, 512)), box, 240, 320)
    assert mask.sum() == (310 - 10 + 1) * (239 - 20 + 1) and mask[20:240, 10:311].all()
    half = np.zeros((512, 512))
    half[:, :256] = 0.9  # left half of the crop is the object, just above the threshold
    left = GEOMETRY.paste_back(half, box, 240, 320)
    assert left[:, :160].any() and not left[:, 162:].any()
