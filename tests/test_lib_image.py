"""Tests for common.image: base64 decoding, mode conversion and limits."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from common.config import Limits, load_limits
from common.errors import BadRequest, PayloadTooLarge
from common.image import decode_base64, decode_image, encode_image


def _b64(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    ("image", "expected_pixel"),
    [
        (Image.new("RGB", (16, 12), (10, 20, 30)), (10, 20, 30)),
        (Image.new("L", (16, 12), 77), (77, 77, 77)),
        (Image.new("RGBA", (16, 12), (1, 2, 3, 0)), (1, 2, 3)),
        (Image.new("I;16", (16, 12), 65535), (255, 255, 255)),
        (Image.new("1", (16, 12), 1), (255, 255, 255)),
    ],
)
def test_modes_become_rgb(image: Image.Image, expected_pixel: tuple[int, int, int]) -> None:
    decoded = decode_image(_b64(image))
    assert decoded.mode == "RGB" and decoded.size == (16, 12)
    assert decoded.getpixel((3, 3)) == expected_pixel


def test_palette_and_jpeg_decode() -> None:
    palette = Image.new("RGB", (20, 20), (204, 0, 0)).convert("P")  # in the web palette
    assert decode_image(_b64(palette)).getpixel((1, 1)) == (204, 0, 0)
    jpeg = decode_image(_b64(Image.new("RGB", (20, 20), (0, 128, 0)), "JPEG"))
    assert abs(jpeg.getpixel((5, 5))[1] - 128) <= 2


def test_sixteen_bit_low_values_keep_their_scale() -> None:
    array = np.full((10, 10), 100, dtype=np.uint16)
    decoded = decode_image(_b64(Image.fromarray(array)))
    assert decoded.getpixel((0, 0)) == (100, 100, 100)


def test_data_url_and_whitespace_are_tolerated() -> None:
    text = _b64(Image.new("RGB", (9, 9)))
    assert decode_image("data:image/png;base64," + text[:10] + "\n" + text[10:]).size == (9, 9)


@pytest.mark.parametrize(
    ("value", "message"),
    [(None, "must be a base64 string"), (5, "must be a base64 string"), ("", "is empty"), ("@@", "not valid base64")],
)
def test_bad_base64(value: object, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        decode_image(value)


def test_small_unreadable_and_truncated_images() -> None:
    with pytest.raises(BadRequest, match="smallest accepted"):
        decode_image(_b64(Image.new("RGB", (1, 1))))
    with pytest.raises(BadRequest, match="not a readable image"):
        decode_image(base64.b64encode(b"plain text").decode())
    raw = base64.b64decode(_b64(Image.effect_noise((64, 64), 50)))
    with pytest.raises(BadRequest, match="truncated"):
        decode_image(base64.b64encode(raw[: len(raw) // 2]).decode())


def test_pixel_limit_is_checked_before_decoding() -> None:
    bomb = _b64(Image.new("1", (4000, 4000)))
    with pytest.raises(PayloadTooLarge, match="pixels"):
        decode_image(bomb, limits=Limits(max_image_pixels=1_000_000))


def test_byte_limit() -> None:
    with pytest.raises(PayloadTooLarge):
        decode_base64("A" * 4000, field="image", max_bytes=100)


def test_limits_from_environment() -> None:
    assert load_limits({"CVAT_FN_MAX_IMAGE_PIXELS": "42"}).max_image_pixels == 42
    assert load_limits({}).max_image_pixels == 40_000_000
    with pytest.raises(ValueError, match="positive"):
        load_limits({"CVAT_FN_MAX_POINTS": "-1"})


def test_encode_round_trip() -> None:
    array = np.random.default_rng(0).integers(0, 255, (10, 12, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(decode_image(encode_image(array))), array)


def test_the_issue_13_bomb_is_refused_from_its_header_by_default() -> None:
    """A 10000×10000 black PNG (about 100 KB) held an MTCNN worker 30 s at 6.4 GB under the old 100 MP default."""
    bomb = _b64(Image.new("L", (10000, 10000)))
    with pytest.raises(PayloadTooLarge, match="10000×10000"):
        decode_image(bomb)
