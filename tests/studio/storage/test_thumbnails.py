"""WebP thumbnails of pictures and videos."""

import pytest

from studio import imaging
from tests.studio.storage.support import decode, mp4, png


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1024, 512), (512, 256)), ((600, 1200), (256, 512)), ((2048, 2048), (512, 512))],
)
def test_thumbnail_fits_512_and_keeps_the_aspect_ratio(size, expected):
    data, width, height = imaging.thumbnail_webp(png(*size))

    assert (width, height) == expected
    assert decode(data).size == expected


def test_thumbnail_never_enlarges_a_small_picture():
    data, width, height = imaging.thumbnail_webp(png(100, 50))

    assert (width, height) == (100, 50)
    assert decode(data).size == (100, 50)


def test_thumbnail_keeps_transparency():
    data, _, _ = imaging.thumbnail_webp(png(800, 400, "RGBA", (10, 20, 30, 0)))

    image = decode(data)
    assert image.mode == "RGBA"
    assert image.getpixel((5, 5))[3] == 0


def test_thumbnail_of_something_that_is_no_image_is_a_value_error():
    with pytest.raises(ValueError):
        imaging.thumbnail_webp(b"<html>not a picture</html>")


def test_video_thumbnail_is_the_first_frame_scaled_down():
    data, width, height = imaging.video_thumbnail_webp(mp4(640, 360))

    assert (width, height) == (512, 288)
    image = decode(data)
    assert image.size == (512, 288)
    red, green, blue = image.convert("RGB").getpixel((256, 144))
    assert red < 20 and abs(green - 80) < 20 and abs(blue - 160) < 20  # frame 0's colour


def test_video_thumbnail_of_something_that_is_no_video_is_a_value_error():
    with pytest.raises(ValueError):
        imaging.video_thumbnail_webp(b"not a video")
