"""Checking and normalising uploaded images (studio.uploads): no database, no storage.

Accepted by content, never by name; refused with a 400 (or 413) that says why, before any
pixel is decoded when the header already tells; accepted images come out upright and without
metadata.
"""

import io
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, PngImagePlugin

from studio.uploads import UploadRejected, UploadTooLarge, normalise_upload
from tests.fakes.images import ORIENTATION, encode, exif_with, png_bomb

LIMITS = {"max_bytes": 20 * 2**20, "max_pixels": 40_000_000}


def picture(width: int = 40, height: int = 20, mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue: where the red ends up shows how it was turned."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width // 2, height))
    return image.convert(mode)


def webp_bomb(width: int = 10_000, height: int = 10_000) -> bytes:
    """An extended (VP8X) WebP header claiming a width x height canvas, and nothing else."""
    vp8x = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little")
    vp8x += (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def reopen(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def refusal(data: bytes, **limits) -> UploadRejected:
    with pytest.raises(UploadRejected) as caught:
        normalise_upload(data, **{**LIMITS, **limits})
    return caught.value


# --- Accepted ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [("PNG", "image/png", "png"), ("JPEG", "image/jpeg", "jpg"), ("WEBP", "image/webp", "webp")],
)
def test_png_jpeg_and_webp_are_accepted_in_their_own_format(fmt, content_type, extension):
    clean = normalise_upload(encode(picture(64, 48), fmt), **LIMITS)
    assert (clean.content_type, clean.extension) == (content_type, extension)
    assert (clean.width, clean.height) == (64, 48)
    stored = reopen(clean.data)
    assert stored.format == fmt and stored.size == (64, 48)


def test_the_format_comes_from_the_bytes_not_from_any_name():
    # normalise_upload never sees a name: a JPEG is a JPEG whatever it was called.
    clean = normalise_upload(encode(picture(), "JPEG"), **LIMITS)
    assert clean.content_type == "image/jpeg"


def test_exif_orientation_is_applied_to_the_pixels():
    # Orientation 6: the camera was turned; viewers rotate the picture 90 degrees clockwise.
    data = encode(picture(40, 20), "JPEG", exif=exif_with(orientation=6), quality=95)
    clean = normalise_upload(data, **LIMITS)
    assert (clean.width, clean.height) == (20, 40)
    stored = reopen(clean.data)
    assert stored.size == (20, 40)
    top, bottom = stored.getpixel((10, 5)), stored.getpixel((10, 34))
    assert top[0] > 200 and top[2] < 60, top  # the left (red) half is now on top
    assert bottom[2] > 200 and bottom[0] < 60, bottom
    assert ORIENTATION not in stored.getexif()  # and no viewer turns it a second time


def test_exif_and_gps_are_stripped_from_jpeg():
    data = encode(picture(), "JPEG", exif=exif_with(), quality=95)
    assert b"Canon" in data
    clean = normalise_upload(data, **LIMITS)
    stored = reopen(clean.data)
    assert "exif" not in stored.info and dict(stored.getexif()) == {}
    assert b"Exif\x00\x00" not in clean.data and b"Canon" not in clean.data


def test_png_text_chunks_and_exif_are_stripped():
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    info.add_itxt("Comment", "taken at home", zip=True)
    data = encode(picture(), "PNG", pnginfo=info, exif=exif_with())
    assert b"tEXt" in data and b"iTXt" in data and b"eXIf" in data
    clean = normalise_upload(data, **LIMITS)
    for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"Jane Doe"):
        assert chunk not in clean.data, chunk
    assert reopen(clean.data).info == {}


def test_webp_metadata_is_stripped_and_lossless_stays_lossless():
    lossless = encode(picture(), "WEBP", lossless=True, exif=exif_with())
    lossy = encode(picture(), "WEBP", quality=80, exif=exif_with())
    assert b"EXIF" in lossless and b"EXIF" in lossy
    kept = normalise_upload(lossless, **LIMITS).data
    redone = normalise_upload(lossy, **LIMITS).data
    assert b"EXIF" not in kept and b"EXIF" not in redone
    assert b"VP8L" in kept[:40]  # lossless source: lossless copy, pixels unchanged
    assert reopen(kept).tobytes() == picture().tobytes()
    assert b"VP8 " in redone[:40] and b"VP8L" not in redone[:40]


def test_an_icc_profile_is_applied_and_not_kept():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(picture(), "PNG", icc_profile=profile)
    assert b"iCCP" in data
    clean = normalise_upload(data, **LIMITS)
    assert b"iCCP" not in clean.data
    assert "icc_profile" not in reopen(clean.data).info


@pytest.mark.parametrize(
    ("image", "fmt", "mode"),
    [
        (Image.new("RGBA", (8, 8), (10, 20, 30, 100)), "PNG", "RGBA"),
        (Image.new("LA", (8, 8), (10, 100)), "PNG", "LA"),
        (Image.new("L", (8, 8), 77), "JPEG", "L"),
        (Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", "RGB"),
        (Image.new("RGBA", (8, 8), (10, 20, 30, 100)), "WEBP", "RGBA"),
    ],
    ids=["rgba-png", "la-png", "grey-jpeg", "cmyk-jpeg", "rgba-webp"],
)
def test_pixels_are_stored_as_8_bit_grey_or_rgb_keeping_alpha(image, fmt, mode):
    assert reopen(normalise_upload(encode(image, fmt), **LIMITS).data).mode == mode


def test_a_palette_png_with_transparency_keeps_it_as_alpha():
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    stored = reopen(normalise_upload(encode(image, "PNG", transparency=0), **LIMITS).data)
    assert stored.mode == "RGBA"


def test_16_bit_grey_is_scaled_to_8_bits_not_clipped():
    stored = reopen(
        normalise_upload(encode(Image.new("I;16", (8, 8), 32768), "PNG"), **LIMITS).data
    )
    assert stored.mode == "L" and stored.getpixel((0, 0)) == 128


def test_an_animated_webp_keeps_its_first_frame():
    frames = [Image.new("RGB", (16, 16), color) for color in ((255, 0, 0), (0, 255, 0))]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    stored = reopen(normalise_upload(data, **LIMITS).data)
    assert getattr(stored, "n_frames", 1) == 1 and stored.getpixel((0, 0))[:3] == (255, 0, 0)


def test_an_image_exactly_at_the_pixel_limit_is_accepted():
    clean = normalise_upload(encode(picture(100, 50), "PNG"), max_bytes=10**6, max_pixels=5000)
    assert (clean.width, clean.height) == (100, 50)


# --- Refused ---------------------------------------------------------------------------------


def test_an_empty_file_is_refused():
    error = refusal(b"")
    assert (error.code, error.http_status) == ("INVALID_REQUEST", 400)
    assert error.message == "The file is empty" and error.details["file"] == [error.message]


def test_a_text_file_is_not_an_image():
    error = refusal(b"Hello, this is a text file renamed to photo.png\n")
    assert error.http_status == 400 and error.message == "Not a PNG, JPEG or WebP image"


@pytest.mark.parametrize(
    "data",
    [
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"%PDF-1.4\n",
        b"BM" + b"\x00" * 60,  # BMP
        b"II*\x00" + b"\x00" * 60,  # TIFF
        b"RIFF\x00\x00\x00\x00AVI LIST",  # RIFF, but not WebP
    ],
    ids=["svg", "pdf", "bmp", "tiff", "avi"],
)
def test_other_formats_are_refused(data):
    assert refusal(data).message == "Not a PNG, JPEG or WebP image"


def test_gif_is_refused_saying_what_to_send():
    error = refusal(encode(picture(), "GIF"))
    assert error.http_status == 400
    assert error.message == "GIF is not supported: send PNG, JPEG or WebP"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_a_truncated_image_is_refused(fmt):
    noisy = Image.effect_noise((64, 64), 80).convert("RGB")  # no run of bytes compresses away
    data = encode(noisy, fmt)
    error = refusal(data[: len(data) * 2 // 3])
    assert error.http_status == 400 and error.message == "The image is truncated or corrupt"


def test_a_png_cut_inside_its_header_is_refused():
    assert refusal(encode(picture(), "PNG")[:30]).message == "The image is truncated or corrupt"


def test_a_100_megapixel_png_header_is_refused_before_decoding():
    # The file is a few hundred bytes: decoding it would fail as truncated (or allocate 300 MB);
    # the refusal names the pixel count, so it came from the header.
    data = png_bomb(10_000, 10_000)
    assert len(data) < 200
    error = refusal(data)
    assert error.http_status == 400
    assert error.message == (
        "The image has 100.0 million pixels (10000x10000); the limit is 40 million"
    )
    assert error.details["file"] == [error.message]
    assert (error.details["width"], error.details["height"]) == (10_000, 10_000)


def test_a_100_megapixel_webp_header_is_refused_before_the_decoder_allocates_it():
    error = refusal(webp_bomb(10_000, 10_000))
    assert error.message.startswith("The image has 100.0 million pixels")


def test_a_header_beyond_pillows_own_bomb_limit_gets_the_same_answer():
    error = refusal(png_bomb(50_000, 50_000))
    assert error.message.startswith("The image has 2500.0 million pixels")


def test_a_file_over_the_size_limit_is_413():
    data = encode(Image.effect_noise((64, 64), 80).convert("RGB"), "PNG")
    with pytest.raises(UploadTooLarge) as caught:
        normalise_upload(data, max_bytes=1000, max_pixels=LIMITS["max_pixels"])
    error = caught.value
    assert (error.code, error.http_status) == ("PAYLOAD_TOO_LARGE", 413)
    assert error.details["limit"] == 1000 and error.details["file"]


def test_the_pixel_limit_is_a_parameter():
    error = refusal(encode(Image.new("L", (1001, 1000)), "PNG"), max_pixels=1_000_000)
    assert error.message == "The image has 1.0 million pixels (1001x1000); the limit is 1 million"


# --- Nothing else escapes --------------------------------------------------------------------

_SEEDS = [
    encode(picture(24, 16), "PNG"),
    encode(picture(24, 16), "JPEG", exif=exif_with(orientation=3)),
    encode(picture(24, 16), "JPEG", progressive=True),
    encode(picture(24, 16), "WEBP", lossless=True),
    encode(picture(24, 16, "RGBA"), "WEBP", quality=70),
    encode(picture(24, 16, "P"), "PNG"),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(_SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_damaged_files_are_accepted_or_refused_never_an_unexpected_error(seed, edits, cut):
    data = bytearray(seed)
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    try:
        clean = normalise_upload(bytes(data), **LIMITS)
    except UploadRejected:
        return
    assert reopen(clean.data).size == (clean.width, clean.height)
