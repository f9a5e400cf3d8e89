"""Tests for common.image: base64 decoding, mode conversion and limits."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from common.config import Limits, load_limits
from common.errors import BadRequest, PayloadTooLarge
from common.image import decode_base64, decode_frame, decode_image, encode_image


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


def _jpeg(size: tuple[int, int]) -> str:
    """A flat grey JPEG of ``size`` (mode L keeps big ones cheap to build)."""
    return _b64(Image.new("L", size, 128), "JPEG")


def _expected_scale(source: tuple[int, int], need: tuple[int, int]) -> int:
    fits = min(source[0] // need[0], source[1] // need[1])
    return next(s for s in (8, 4, 2, 1) if fits >= s)


@pytest.mark.parametrize("width", range(16, 160, 3))
def test_reduced_decode_takes_the_largest_dct_scale_that_keeps_the_model_input(width: int) -> None:
    need = (16, 20)
    frame = decode_frame(_jpeg((width, 170)), min_size=need)
    scale = frame.scale
    assert frame.size == (width, 170)
    assert scale == _expected_scale((width, 170), need) and scale in (1, 2, 4, 8)
    assert frame.image.size == (-(-width // scale), -(-170 // scale))
    assert frame.image.width >= need[0] and frame.image.height >= need[1]  # never below what the model needs
    if scale < 8:  # the next DCT scale would go below it
        assert width // (2 * scale) < need[0] or 170 // (2 * scale) < need[1]


@pytest.mark.parametrize(
    ("source", "need", "scale"),
    [
        ((12000, 9000), (640, 640), 8),
        ((12000, 9000), (2048, 1024), 4),
        ((12000, 9000), (2400, 2400), 2),
        ((12000, 900), (640, 640), 1),
        ((640, 480), (640, 640), 1),
    ],
)
def test_reduced_decode_scales_of_a_large_jpeg(source: tuple[int, int], need: tuple[int, int], scale: int) -> None:
    frame = decode_frame(_jpeg(source), min_size=need)
    assert (frame.scale, frame.size) == (scale, source)
    assert frame.image.size == (-(-source[0] // scale), -(-source[1] // scale)) and frame.image.mode == "RGB"


def test_reduced_decode_keeps_the_picture_at_scaled_coordinates() -> None:
    array = np.zeros((960, 1280, 3), np.uint8)
    array[240:480, 320:800] = (250, 20, 20)
    frame = decode_frame(_b64(Image.fromarray(array), "JPEG"), min_size=(160, 120))
    assert frame.scale == 8
    red = np.asarray(frame.image)[..., 0] > 128
    rows, cols = np.flatnonzero(red.any(axis=1)), np.flatnonzero(red.any(axis=0))
    assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == (30, 60, 40, 100)  # 240/8, 480/8, 320/8, 800/8


def test_other_formats_and_no_input_size_decode_in_full() -> None:
    png = decode_frame(_b64(Image.new("RGB", (1280, 960), (1, 2, 3))), min_size=(160, 120))
    assert (png.scale, png.image.size, png.size) == (1, (1280, 960), (1280, 960))
    frame = decode_frame(_jpeg((1280, 960)))
    assert (frame.scale, frame.image.size, frame.size) == (1, (1280, 960), (1280, 960))
    assert decode_image(_jpeg((1280, 960))).size == (1280, 960)


def test_the_pixel_limit_applies_to_the_reduced_decode() -> None:
    limits = Limits(max_image_pixels=1_000_000)
    jpeg = _jpeg((4000, 3000))  # 12 MP: 1000×750 decoded at 1/4 for a 640×640 model
    frame = decode_frame(jpeg, min_size=(640, 640), limits=limits)
    assert (frame.scale, frame.image.size) == (4, (1000, 750))
    with pytest.raises(PayloadTooLarge, match="4000×3000 pixels; the limit is 1000000"):
        decode_frame(jpeg, limits=limits)  # the model did not declare an input size
    with pytest.raises(PayloadTooLarge, match=r"\(2000×1500 decoded reduced\)"):
        decode_frame(jpeg, min_size=(2000, 1500), limits=limits)  # 1/2 only: still over
    with pytest.raises(PayloadTooLarge, match="4000×3000"):
        decode_frame(_b64(Image.new("1", (4000, 3000))), min_size=(640, 640), limits=limits)  # PNG: no reduction
    with pytest.raises(PayloadTooLarge, match="decoded reduced is 10000000 pixels"):
        decode_frame(jpeg, min_size=(640, 640), limits=Limits(max_image_pixels=1_000_000, max_source_pixels=10**7))


def test_the_issue_13_bomb_is_refused_even_for_a_fixed_input_model() -> None:
    bomb = _b64(Image.new("1", (10000, 10000)))  # PNG cannot be decoded reduced
    with pytest.raises(PayloadTooLarge, match="10000×10000 pixels; the limit is 40000000"):
        decode_frame(bomb, min_size=(640, 640))


def test_source_pixel_limit_from_environment() -> None:
    assert load_limits({"CVAT_FN_MAX_SOURCE_PIXELS": "7"}).max_source_pixels == 7
    assert load_limits({}).max_source_pixels == 160_000_000


def test_a_non_positive_model_input_size_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="min_size must be positive"):
        decode_frame(_jpeg((64, 64)), min_size=(0, 64))
