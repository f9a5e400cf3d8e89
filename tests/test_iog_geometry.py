"""IOG's pre/post-processing without its network: guidance points, the 5-channel input, paste-back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cvat_serverless.harness.discovery import load_module

FOLDER = Path(__file__).parents[1] / "serverless/pytorch/shiyinzhang/iog/nuclio"
GEOMETRY = load_module(FOLDER / "iog_geometry.py", "iog_geometry_t")
BOX = (100.0, 60.0, 300.0, 200.0)


def test_guidance_points_default_to_box_centre_and_corners() -> None:
    inside, outside = GEOMETRY.guidance_points(BOX, np.zeros((0, 2)), np.zeros((0, 2)))
    assert inside.tolist() == [[200.0, 130.0]]
    assert outside.tolist() == [[100, 60], [300, 60], [300, 200], [100, 200]]
    inside, outside = GEOMETRY.guidance_points(BOX, np.array([[150, 100]]), np.array([[10, 10]]))
    assert inside.tolist() == [[150, 100]] and len(outside) == 5


def test_network_input_layout() -> None:
    image = np.zeros((240, 400, 3), np.uint8)
    image[..., 1] = 200
    tensor, crop = GEOMETRY.network_input(image, BOX, np.zeros((0, 2)), np.zeros((0, 2)))
    assert tensor.shape == (1, 5, 512, 512) and crop == (70, 30, 330, 230)
    assert np.allclose(tensor[0, 1], 200) and tensor[0, 3:].max() == 255.0
    y, x = np.unravel_index(np.argmax(tensor[0, 3]), (512, 512))  # the inside map peaks at the box centre
    assert abs(x - (200 - 70) * 512 / 261) <= 1 and abs(y - (130 - 30) * 512 / 201) <= 1


def test_paste_back_lands_on_the_crop() -> None:
    mask = GEOMETRY.paste_back(np.full((512, 512), 3.0), (70, 30, 330, 230), 240, 400, 0.8)
    assert mask.sum() == 261 * 201 and mask[30:231, 70:331].all()
    assert not GEOMETRY.paste_back(np.full((512, 512), -3.0), (70, 30, 330, 230), 240, 400, 0.8).any()


def test_threshold_is_a_probability_of_the_logits() -> None:
    """The network outputs logits (upstream test.py applies a sigmoid): 0.8 is a probability, logit ln 4."""
    logits = np.array([[-2.0, 0.0, 1.0, 1.3, 1.4, 5.0]])
    assert np.allclose(GEOMETRY.probabilities(logits), 1 / (1 + np.exp(-logits)))
    expected = {0.8: [0, 0, 0, 0, 1, 1], 0.5: [0, 0, 1, 1, 1, 1], 0.995: [0, 0, 0, 0, 0, 0], 0.15: [0, 1, 1, 1, 1, 1]}
    for threshold, row in expected.items():
        mask = GEOMETRY.paste_back(logits, (0, 0, 5, 0), 1, 6, threshold)
        assert mask.astype(int).tolist() == [row], threshold
    # sigmoid(1.3) = 0.786 and sigmoid(1.0) = 0.731 sit over a raw-logit cut of 0.8 but under the probability 0.8
    assert GEOMETRY.probabilities(np.array([1.3]))[0] < 0.8 < GEOMETRY.probabilities(np.array([1.4]))[0]
