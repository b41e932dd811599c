"""imageops.common.decode and probe: what counts as a usable picture."""

import numpy as np
import pytest
from PIL import Image

from studio.imageops import common
from studio.providers.base import ProviderError
from tests.studio.imageops.support import (
    encode,
    grey16,
    near,
    pillow_encoded,
    png_header_only,
    textured,
    with_orientation,
)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "empty", id="zero-bytes"),
        pytest.param(b"hello, this is a text file\n" * 4, "not a readable image", id="text"),
        pytest.param(pillow_encoded(Image.new("RGB", (8, 8)), "GIF"), "GIF", id="gif"),
        pytest.param(pillow_encoded(Image.new("RGB", (8, 8)), "BMP"), "readable", id="bmp"),
        pytest.param(pillow_encoded(Image.new("RGB", (8, 8)), "TIFF"), "readable", id="tiff"),
        pytest.param(b"%PDF-1.7\n", "PDF", id="pdf"),
        pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG", id="svg"),
    ],
)
def test_decode_refuses_what_is_not_png_jpeg_or_webp(data, message):
    with pytest.raises(ProviderError, match=message):
        common.decode(data)


def test_decode_refuses_a_truncated_png():
    data = encode(textured(64, 64))

    with pytest.raises(ProviderError, match="damaged"):
        common.decode(data[: len(data) // 2])
    with pytest.raises(ProviderError):
        common.decode(data[:30])  # cut inside the header


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(("width", "height"), [(10_000, 10_000), (8_000, 6_000), (1, 40_000_001)])
def test_a_header_claiming_too_many_pixels_is_refused_without_decoding(width, height):
    data = png_header_only(width, height)  # no pixel data: decoding would say "damaged"

    with pytest.raises(ProviderError, match="too large"):
        common.decode(data)
    with pytest.raises(ProviderError, match="too large"):
        common.probe(data)


def test_the_pixel_limit_can_be_lowered_per_call():
    data = encode(textured(40, 30))

    assert common.decode(data, max_pixels=1200).shape == (30, 40, 3)
    with pytest.raises(ProviderError, match="too large"):
        common.decode(data, max_pixels=1199)


def test_16_bit_grey_is_scaled_to_8_bits():
    values = np.array([[0, 257 * 100, 65535, 32896]])

    array = common.decode(grey16(values))

    assert array.shape == (1, 4, 3) and array.dtype == np.uint8
    assert array[0, :, 0].tolist() == [0, 100, 255, 128]
    assert (array == array[:, :, :1]).all()


def test_a_dark_16_bit_picture_stays_dark():
    values = np.array([[0, 60, 200, 255]])  # all under 256 of 65535: nearly black

    assert common.decode(grey16(values))[0, :, 0].tolist() == [0, 0, 1, 1]


def test_16_bit_grey_with_a_transparent_value_keeps_it_transparent():
    values = np.array([[0, 1000, 65535]])

    array = common.decode(grey16(values, transparency=1000))

    assert array.shape == (1, 3, 4)
    assert array[0, :, 3].tolist() == [255, 0, 255]


def test_a_cmyk_jpeg_decodes_to_the_matching_rgb():
    image = Image.new("CMYK", (24, 8), (0, 0, 0, 0))  # white
    image.paste((255, 0, 0, 0), (8, 0, 16, 8))  # cyan
    image.paste((0, 0, 0, 255), (16, 0, 24, 8))  # black

    array = common.decode(pillow_encoded(image, "JPEG", quality=95))

    assert array.shape == (8, 24, 3)
    assert near(array[4, 4], (255, 255, 255), 8)
    assert near(array[4, 12], (0, 255, 255), 8)
    assert near(array[4, 20], (0, 0, 0), 8)


@pytest.mark.parametrize(
    ("image", "fmt", "expected"),
    [
        (Image.new("L", (3, 2), 77), "PNG", (77, 77, 77)),
        (Image.new("LA", (3, 2), (77, 100)), "PNG", (77, 77, 77, 100)),
        (Image.new("RGBA", (3, 2), (1, 2, 3, 255)), "PNG", (1, 2, 3)),  # alpha hides nothing
        (Image.new("RGB", (3, 2), (10, 200, 30)), "WEBP", (10, 200, 30)),
    ],
    ids=["grey", "grey-alpha", "opaque-rgba", "webp-lossless"],
)
def test_decode_gives_8_bit_rgb_or_rgba(image, fmt, expected):
    options = {"lossless": True} if fmt == "WEBP" else {}

    array = common.decode(pillow_encoded(image, fmt, **options))

    assert array.dtype == np.uint8 and array.shape == (2, 3, len(expected))
    assert (array == expected).all()


def test_a_palette_png_with_a_transparent_index_decodes_with_alpha():
    image = Image.new("P", (4, 2), 0)
    image.putpalette([0, 0, 0, 200, 30, 30])
    image.paste(1, (2, 0, 4, 2))  # right half red, left half the transparent index

    array = common.decode(pillow_encoded(image, "PNG", transparency=0))

    assert array.shape == (2, 4, 4)
    assert array[:, :2, 3].tolist() == [[0, 0], [0, 0]]
    assert (array[:, 2:] == (200, 30, 30, 255)).all()


def test_decode_turns_the_picture_upright_by_its_exif_orientation():
    stored = np.full((20, 40, 3), 230, np.uint8)
    stored[:, :20] = (200, 20, 20)  # left half red as stored
    # Orientation 8: shown turned 90 degrees anticlockwise, so the red half ends up below.

    array = common.decode(with_orientation(stored, 8))

    assert array.shape == (40, 20, 3)
    assert near(array[30, 10], (200, 20, 20), 12) and near(array[10, 10], (230, 230, 230), 12)
