"""Tests for common.masks: CVAT's two mask encodings and mask → polygon."""

from __future__ import annotations

import numpy as np
import pytest

from common.masks import (
    bitmap_to_rle,
    crop_to_rle,
    decode_function_mask,
    encode_function_mask,
    function_mask_to_rle,
    mask_bbox,
    mask_to_polygon,
    rle_to_bitmap,
)

# The contract doc's test vector (CVAT's lambda tests): function-side mask → stored RLE.
FUNCTION_SIDE = [255, 255, 0, 0, 255, 255, 0, 0, 255, 255, 0, 0, 0, 0, 2, 3]
SERVER_SIDE = [0, 2, 2, 2, 2, 2, 2, 0, 0, 2, 3]


def test_contract_vector_converts_to_server_rle() -> None:
    assert function_mask_to_rle(FUNCTION_SIDE) == SERVER_SIDE


def test_contract_vector_round_trips() -> None:
    bitmap = rle_to_bitmap(SERVER_SIDE, (4, 3))
    assert encode_function_mask(bitmap, (0, 0, 2, 3)) == FUNCTION_SIDE
    assert bitmap_to_rle(np.pad(bitmap, ((0, 0), (0, 0)))) is not None


def test_rle_starts_with_zero_run_when_first_pixel_is_set() -> None:
    assert crop_to_rle(np.array([[1, 1, 0]], bool)) == [0, 2, 1]
    assert crop_to_rle(np.array([[0, 1, 1]], bool)) == [1, 2]


@pytest.mark.parametrize("seed", range(5))
def test_random_masks_round_trip_both_forms(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bitmap = rng.random((37, 53)) > 0.6
    values = encode_function_mask(bitmap)
    box = mask_bbox(bitmap)
    assert values[-4:] == list(box)
    assert np.array_equal(decode_function_mask(values, bitmap.shape), bitmap)
    rle = function_mask_to_rle(values)
    assert rle == bitmap_to_rle(bitmap)
    assert np.array_equal(rle_to_bitmap(rle, bitmap.shape), bitmap)


def test_empty_mask_is_refused_or_none() -> None:
    empty = np.zeros((5, 5), bool)
    assert mask_bbox(empty) is None
    assert bitmap_to_rle(empty) is None
    assert mask_to_polygon(empty) is None
    with pytest.raises(ValueError, match="empty"):
        encode_function_mask(empty)


def test_codec_preconditions() -> None:
    with pytest.raises(ValueError, match="2-dimensional"):
        encode_function_mask(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="outside"):
        encode_function_mask(np.ones((4, 4)), (0, 0, 9, 9))
    with pytest.raises(ValueError, match="needs"):
        decode_function_mask([255, 0, 0, 0, 5, 5])
    with pytest.raises(ValueError, match="cover"):
        rle_to_bitmap([1, 1, 0, 0, 2, 2], (4, 4))


def test_polygon_outlines_the_largest_region() -> None:
    bitmap = np.zeros((100, 100), bool)
    bitmap[10:60, 20:80] = True
    bitmap[90:92, 90:92] = True
    polygon = mask_to_polygon(bitmap)
    assert polygon is not None and len(polygon) >= 8
    xs, ys = polygon[0::2], polygon[1::2]
    assert (min(xs), min(ys), max(xs), max(ys)) == (20, 10, 79, 59)
