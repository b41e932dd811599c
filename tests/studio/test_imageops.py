"""Image operations on pictures (studio.imageops): no database, no storage, no network.

Every picture is synthetic and built here, so each expectation follows from how the picture
was drawn (where the subject is, which colours it has), never from a recorded output.
"""

import io
import itertools
import re
from xml.etree import ElementTree

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from studio import imageops
from studio.imageops import common
from studio.imageops.vectorize import DETAILS, svg_fill_colours
from studio.providers.base import Cancelled, ProviderError
from studio.rendering import Spec, render
from tests.fakes.images import PNG_SIGNATURE, png_chunk, png_ihdr

SVG = "{http://www.w3.org/2000/svg}"
ORIENTATION = 0x0112
BACKDROP = (236, 236, 232)
RED = (205, 35, 35)


# --- Pictures -------------------------------------------------------------------------------


def encode(array: np.ndarray, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def opened(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return np.asarray(image)


def noisy(array: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, array.shape)
    return np.clip(np.asarray(array, np.float32) + noise, 0, 255).astype(np.uint8)


def disc(width: int, height: int, centre: tuple[float, float], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius**2


def circle_on_plain(width: int = 320, height: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """A flat red disc on a flat light backdrop, and the disc's mask."""
    shape = disc(width, height, (width / 2, height / 2), min(width, height) * 0.3)
    picture = np.empty((height, width, 3), np.uint8)
    picture[:] = BACKDROP
    picture[shape] = RED
    return picture, shape


def shaded_object_on_graded_noise() -> tuple[np.ndarray, np.ndarray]:
    """A blue ball lit from the top left (light rim to dark side) on a backdrop that darkens
    towards the bottom, with sensor noise over everything."""
    height, width = 240, 320
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    shape = disc(width, height, (170, 115), 75)
    picture = np.empty((height, width, 3), np.float32)
    picture[:] = BACKDROP
    picture += (yy / height * 24 - 12)[:, :, None]
    light = np.clip(1.2 - np.hypot(xx - 130, yy - 80) / 130, 0.35, 1.0)[:, :, None]
    ball = np.array([60, 110, 230], np.float32) * light
    picture[shape] = ball[shape]
    return noisy(picture, 4.0), shape


def object_on_the_bottom_edge() -> tuple[np.ndarray, np.ndarray]:
    """A green bottle standing on the bottom edge of the frame (its colour shows on one side
    of the border only)."""
    height, width = 240, 320
    yy, xx = np.mgrid[0:height, 0:width]
    shape = (np.abs(xx - 160) < 45) & (yy > 90)
    shape |= disc(width, height, (160, 90), 45)
    picture = np.empty((height, width, 3), np.uint8)
    picture[:] = BACKDROP
    picture[shape] = (40, 140, 70)
    return noisy(picture, 2.5), shape


def sharp_edges(width: int = 48, height: int = 40) -> np.ndarray:
    """Dark and light halves split by a vertical and a diagonal edge, mid-grey levels."""
    yy, xx = np.mgrid[0:height, 0:width]
    light = (xx > width // 2) ^ (xx + yy > width)
    picture = np.where(light, 205, 45).astype(np.uint8)
    return np.dstack([picture, picture, picture])


def textured(width: int = 80, height: int = 60) -> np.ndarray:
    """Gradients, a wave, a red block and noise: something with content at every scale."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    picture = np.stack([xx / width * 255, yy / height * 255, 128 + 60 * np.sin(xx / 5)], -1)
    picture[20:40, 30:50] = (250, 20, 20)
    return noisy(picture, 4.0)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose valid header claims width x height and that has no pixel data at all: any
    attempt to decode it fails as damaged, so a size refusal proves nothing was decoded."""
    return PNG_SIGNATURE + png_ihdr(width, height) + png_chunk(b"IEND", b"")


def with_orientation(array: np.ndarray, orientation: int) -> bytes:
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[ORIENTATION] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def rendered(prompt: str, seed: int, side: int = 256, category: str = "") -> bytes:
    image, _ = render(Spec(prompt=prompt, width=side, height=side, seed=seed, category=category))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# --- SVG reading ----------------------------------------------------------------------------

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def parsed(svg: bytes) -> ElementTree.Element:
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def paths(svg: bytes) -> list[ElementTree.Element]:
    return list(parsed(svg).iter(f"{SVG}path"))


def drawn_box(svg: bytes, fill: str | None = None) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of everything drawn (or of one fill), in the SVG's user
    units: each path's own translate and the enclosing group's scale applied."""
    root = parsed(svg)
    sx = sy = 1.0
    group = root.find(f"{SVG}g")
    if group is not None:
        sx, sy = (float(v) for v in _NUMBER.findall(group.get("transform")))
    xs, ys = [], []
    for path in root.iter(f"{SVG}path"):
        if fill and path.get("fill").lower() != fill:
            continue
        data = path.get("d")
        assert set(re.findall(r"[A-Za-z]", data.replace("e", ""))) <= set("MCLZ"), data
        tx, ty = (float(v) for v in _NUMBER.findall(path.get("transform", "translate(0,0)")))
        numbers = [float(v) for v in _NUMBER.findall(data)]
        xs += [(x + tx) * sx for x in numbers[0::2]]
        ys += [(y + ty) * sy for y in numbers[1::2]]
    return min(xs), min(ys), max(xs), max(ys)


def hex_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])


def near(colour, expected, delta: float) -> bool:
    return np.abs(np.asarray(colour, float) - np.asarray(expected, float)).max() <= delta


# --- vectorize ------------------------------------------------------------------------------


@pytest.mark.parametrize("detail", list(DETAILS))
@pytest.mark.parametrize("mode", ["color", "binary"])
def test_vectorize_gives_an_svg_of_the_source_size_with_paths(mode, detail):
    picture, _ = circle_on_plain(200, 150)

    svg, facts = imageops.vectorize(encode(picture), mode=mode, detail=detail)

    root = parsed(svg)
    assert (root.get("width"), root.get("height"), root.get("viewBox")) == (
        "200", "150", "0 0 200 150",
    )  # fmt: skip
    assert facts["width"] == 200 and facts["height"] == 150
    assert facts["paths"] == len(paths(svg)) >= 1


@pytest.mark.parametrize("detail", ["low", "high"])
def test_a_picture_larger_than_the_trace_side_is_drawn_over_the_whole_source_size(detail):
    width, height = 1800, 1000  # longer than every detail level's trace side
    picture, _ = circle_on_plain(width, height)

    svg, facts = imageops.vectorize(encode(picture), detail=detail)

    root = parsed(svg)
    assert (root.get("width"), root.get("height")) == (str(width), str(height))
    assert root.get("viewBox") == f"0 0 {width} {height}"
    assert root.find(f"{SVG}g") is not None  # traced smaller, scaled back up
    left, top, right, bottom = drawn_box(svg)
    assert abs(left) < 1 and abs(top) < 1
    assert right == pytest.approx(width, abs=width * 0.005)
    assert bottom == pytest.approx(height, abs=height * 0.005)
    # The disc lands where it is in the source (a circle of radius 300 in the middle); the
    # box is of the curves' control points, which may stand a little outside the circle.
    red = next(c for c in svg_fill_colours(svg) if near(hex_rgb(c), RED, 6))
    assert drawn_box(svg, fill=red) == pytest.approx((600, 200, 1200, 800), abs=20)
    assert facts == {"width": width, "height": height, "paths": len(paths(svg))}


def test_a_source_at_the_trace_side_is_not_wrapped_in_a_scaled_group():
    picture, _ = circle_on_plain(300, 200)

    svg, _ = imageops.vectorize(encode(picture), detail="low")

    assert parsed(svg).find(f"{SVG}g") is None
    assert drawn_box(svg) == pytest.approx((0, 0, 300, 200), abs=0.5)


def test_binary_vectorize_draws_in_black_only():
    picture = noisy(textured(160, 120), 6.0)

    svg, facts = imageops.vectorize(encode(picture), mode="binary")

    assert facts["paths"] >= 1
    assert svg_fill_colours(svg) == {"#000000"}
    assert {path.get("fill").lower() for path in paths(svg)} == {"#000000"}


def test_colour_vectorize_of_a_two_colour_picture_fills_with_those_colours():
    picture, _ = circle_on_plain(240, 180)

    svg, _ = imageops.vectorize(encode(picture), mode="color")

    fills = [hex_rgb(colour) for colour in svg_fill_colours(svg)]
    assert fills and all(near(f, BACKDROP, 6) or near(f, RED, 6) for f in fills)
    assert any(near(f, BACKDROP, 6) for f in fills) and any(near(f, RED, 6) for f in fills)


@pytest.mark.parametrize(
    ("ground", "ink"), [((20, 20, 30), (235, 235, 235)), ((235, 235, 235), (20, 20, 30))]
)
def test_binary_vectorize_inks_the_subject_not_its_ground(ground, ink):
    picture = np.empty((120, 160, 3), np.uint8)
    picture[:] = ground
    picture[30:90, 40:120] = ink  # a light logo on dark, or the other way round

    svg, _ = imageops.vectorize(encode(picture), mode="binary")

    assert drawn_box(svg) == pytest.approx((40, 30, 120, 90), abs=1.5)


@pytest.mark.parametrize("mode", ["color", "binary"])
def test_a_transparent_source_traces_only_what_is_visible(mode):
    # One flat colour on a transparent ground: in binary mode the shape is the ink (the
    # opaque pixels have no contrast among themselves, the transparency gives it).
    picture = np.zeros((120, 160, 4), np.uint8)
    picture[30:90, 40:120] = (20, 90, 200, 255)

    svg, facts = imageops.vectorize(encode(picture), mode=mode)

    assert facts["paths"] >= 1
    assert drawn_box(svg) == pytest.approx((40, 30, 120, 90), abs=1.5)
    if mode == "color":
        assert all(near(hex_rgb(c), (20, 90, 200), 6) for c in svg_fill_colours(svg))


@pytest.mark.parametrize(("mode", "detail"), [("colour", "medium"), ("color", "max"), ("", "")])
def test_vectorize_refuses_an_unknown_mode_or_detail(mode, detail):
    picture, _ = circle_on_plain(40, 30)

    with pytest.raises(ValueError):
        imageops.vectorize(encode(picture), mode=mode, detail=detail)


# --- remove_background ----------------------------------------------------------------------


def cut(data: bytes) -> tuple[np.ndarray, dict]:
    result, facts = imageops.remove_background(data)
    return opened(result), facts


@pytest.mark.parametrize(
    ("scene", "fmt"),
    [
        pytest.param(circle_on_plain, "PNG", id="red-circle-on-plain"),
        pytest.param(shaded_object_on_graded_noise, "PNG", id="shaded-ball-on-graded-noise"),
        pytest.param(object_on_the_bottom_edge, "PNG", id="object-touching-the-bottom"),
        pytest.param(shaded_object_on_graded_noise, "JPEG", id="jpeg"),
    ],
)
def test_the_background_becomes_transparent_and_the_subject_stays(scene, fmt):
    picture, shape = scene()
    data = encode(picture, fmt, quality=85) if fmt == "JPEG" else encode(picture)
    source = common.decode(data)

    result, facts = cut(data)

    assert result.shape == (*picture.shape[:2], 4)
    alpha = result[:, :, 3]
    assert (alpha[~shape] < 32).mean() > 0.9
    assert (alpha[shape] > 224).mean() > 0.9
    assert np.array_equal(result[:, :, :3], source)  # colour untouched, only alpha added
    assert facts["width"] == picture.shape[1] and facts["height"] == picture.shape[0]
    assert facts["foreground_fraction"] == pytest.approx(shape.mean(), abs=0.03)
    assert "note" not in facts


def test_a_real_hole_in_the_subject_stays_transparent():
    picture = np.empty((240, 320, 3), np.uint8)
    picture[:] = BACKDROP
    yy, xx = np.mgrid[0:240, 0:320]
    distance = np.hypot(xx - 160, yy - 120)
    picture[(distance < 80) & (distance > 40)] = (30, 120, 60)  # a ring

    alpha = cut(encode(noisy(picture, 3.0)))[0][:, :, 3]

    assert (alpha[distance < 36] < 32).mean() > 0.9
    assert (alpha[(distance < 76) & (distance > 44)] > 224).mean() > 0.9


def test_a_highlight_close_to_the_backdrop_colour_stays_part_of_the_subject():
    picture, shape = circle_on_plain()
    highlight = disc(320, 240, (140, 100), 14)
    picture[highlight] = (250, 238, 236)  # a glint on the red ball, nearly backdrop white

    alpha = cut(encode(noisy(picture, 2.0)))[0][:, :, 3]

    assert (alpha[highlight] > 224).mean() > 0.9
    assert (alpha[shape] > 224).mean() > 0.9


@pytest.mark.parametrize("grain", [0.0, 3.0])
def test_a_flat_picture_comes_back_unchanged_and_opaque_with_a_note(grain):
    picture = noisy(np.full((100, 140, 3), (90, 120, 200), np.uint8), grain)

    result, facts = cut(encode(picture))

    assert np.array_equal(result[:, :, :3], picture)
    assert (result[:, :, 3] == 255).all()
    assert facts["note"] == "no subject found"
    assert facts["foreground_fraction"] == 1.0


def test_what_was_already_transparent_stays_transparent():
    picture, shape = circle_on_plain()
    alpha = np.full(shape.shape, 255, np.uint8)
    alpha[:, :40] = 0  # a transparent strip on the left, not touching the subject,
    picture[100:140, 10:30] = (20, 30, 90)  # hiding a dark block that would stand out

    result, facts = cut(encode(np.dstack([picture, alpha])))

    assert (result[:, :40, 3] == 0).all()
    assert (result[:, :, 3][shape] > 224).mean() > 0.9
    assert (result[:, 40:, 3][~shape[:, 40:]] < 32).mean() > 0.9
    assert "note" not in facts


def test_a_flat_picture_with_alpha_keeps_its_alpha_with_the_note():
    picture = np.full((60, 80, 4), (90, 120, 200, 255), np.uint8)
    picture[:, :20, 3] = 0

    result, facts = cut(encode(picture))

    assert np.array_equal(result[:, :, 3], picture[:, :, 3])
    assert facts["note"] == "no subject found"


# --- upscale --------------------------------------------------------------------------------


def upscaled(data: bytes, scale: int, **options) -> tuple[np.ndarray, dict]:
    result, facts = imageops.upscale(data, scale=scale, **options)
    return opened(result), facts


@pytest.mark.parametrize("scale", [2, 4])
def test_upscale_gives_exactly_scale_times_the_size_and_keeps_the_content(scale):
    picture = textured(80, 60)

    result, facts = upscaled(encode(picture), scale)

    assert result.shape == (60 * scale, 80 * scale, 3)
    assert facts == {"width": 80 * scale, "height": 60 * scale, "scale": scale}
    back = cv2.resize(result, (80, 60), interpolation=cv2.INTER_AREA)
    difference = np.abs(back.astype(int) - picture.astype(int))
    assert difference.mean() < 2.0
    assert np.percentile(difference, 99) < 12


@pytest.mark.parametrize("scale", [2, 4])
def test_upscale_makes_no_halo_on_a_sharp_edge(scale):
    picture = sharp_edges()

    result, _ = upscaled(encode(picture), scale)

    assert result.min() >= picture.min() and result.max() <= picture.max()
    # Yet it is not a blur: most of the output sits at the two source levels.
    assert np.isin(result, (45, 205)).mean() > 0.6


@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([2, 4]))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_upscale_never_leaves_each_channels_source_range(seed, scale):
    rng = np.random.default_rng(seed)
    low, high = sorted(rng.integers(0, 256, 2))
    picture = rng.integers(low, high + 1, (12, 10, 3), dtype=np.uint8)

    result, _ = upscaled(encode(picture), scale)

    assert (result.reshape(-1, 3).min(0) >= picture.reshape(-1, 3).min(0)).all()
    assert (result.reshape(-1, 3).max(0) <= picture.reshape(-1, 3).max(0)).all()


def antialiased_disc_on_clear(side: int = 48) -> np.ndarray:
    """An orange disc with a soft (anti-aliased) rim on fully transparent black."""
    big = disc(side * 8, side * 8, (side * 4, side * 4), side * 2.6).astype(np.float32)
    alpha = cv2.resize(big, (side, side), interpolation=cv2.INTER_AREA)
    picture = np.zeros((side, side, 4), np.uint8)
    picture[alpha > 0, :3] = (240, 200, 60)
    picture[:, :, 3] = np.round(alpha * 255).astype(np.uint8)
    return picture


@pytest.mark.parametrize("scale", [2, 4])
def test_upscale_keeps_alpha_without_dark_fringes(scale):
    picture = antialiased_disc_on_clear()
    assert ((picture[:, :, 3] > 0) & (picture[:, :, 3] < 255)).any()  # a soft rim

    result, _ = upscaled(encode(picture), scale)

    assert result.shape == (48 * scale, 48 * scale, 4)
    alpha = result[:, :, 3]
    back = cv2.resize(alpha, (48, 48), interpolation=cv2.INTER_AREA)
    assert np.abs(back.astype(int) - picture[:, :, 3]).mean() < 3
    assert alpha[0, 0] == 0 and alpha[24 * scale, 24 * scale] == 255
    # Every visible pixel, the faint rim included, keeps the disc's colour.
    visible = result[alpha >= 16][:, :3].astype(int)
    assert np.abs(visible - (240, 200, 60)).max() <= 6


def test_upscale_refuses_an_output_over_the_limit_before_decoding():
    # Decoding this header-only file would fail as damaged; the size refusal comes first.
    with pytest.raises(ProviderError, match="upscale") as refused:
        imageops.upscale(png_header_only(3000, 2000), scale=4)
    assert "40,000,000" in str(refused.value)
    with pytest.raises(ProviderError, match="damaged"):
        imageops.upscale(png_header_only(300, 200), scale=2)


def test_upscale_allows_exactly_max_pixels_and_refuses_one_more():
    data = encode(textured(20, 10))

    result, _ = upscaled(data, 2, max_pixels=40 * 20)
    assert result.shape[:2] == (20, 40)
    with pytest.raises(ProviderError):
        imageops.upscale(data, scale=2, max_pixels=40 * 20 - 1)


@pytest.mark.parametrize("scale", [0, 1, 3, 8, "2", 2.0001])
def test_upscale_refuses_a_scale_other_than_2_or_4(scale):
    with pytest.raises(ValueError):
        imageops.upscale(encode(textured(20, 10)), scale=scale)


def test_an_exif_rotated_jpeg_is_upscaled_upright():
    stored = np.full((60, 80, 3), 230, np.uint8)
    stored[:20, :20] = (200, 20, 20)  # a red corner, top left as stored
    # Orientation 6: shown turned 90 degrees clockwise, so 60 wide and 80 high, red top right.

    result, facts = upscaled(with_orientation(stored, 6), 2)

    assert result.shape == (160, 120, 3)
    assert (facts["width"], facts["height"]) == (120, 160)
    assert near(result[10:30, 90:110].reshape(-1, 3).mean(0), (200, 20, 20), 12)
    assert near(result[10:30, 10:30].reshape(-1, 3).mean(0), (230, 230, 230), 12)


# --- style_extract and palette_swatch ------------------------------------------------------


def three_colours() -> tuple[bytes, list[tuple[int, int, int]], list[float]]:
    """Blue over half the picture, yellow over 30 %, red over 20 %."""
    picture = np.empty((120, 200, 3), np.uint8)
    colours = [(20, 60, 160), (230, 200, 40), (200, 30, 40)]
    picture[:, :100], picture[:, 100:160], picture[:, 160:] = colours
    return encode(picture), colours, [0.5, 0.3, 0.2]


def flat(colour, grain: float = 0.0, grey_grain: bool = True) -> bytes:
    picture = np.empty((96, 96, 3), np.float32)
    picture[:] = colour
    rng = np.random.default_rng(7)
    shape = (96, 96, 1) if grey_grain else (96, 96, 3)
    picture += rng.normal(0, grain, shape)
    return encode(np.clip(picture, 0, 255).astype(np.uint8))


def halves(left, right) -> bytes:
    picture = np.empty((96, 96, 3), np.uint8)
    picture[:, :48], picture[:, 48:] = left, right
    return encode(picture)


def test_style_extraction_is_deterministic():
    references = [rendered("a sunset over the mountains with a lake", 3), three_colours()[0]]

    assert imageops.style_extract(references) == imageops.style_extract(references)


def test_the_palette_of_three_flat_colours_is_those_colours_dominant_first():
    data, colours, shares = three_colours()

    style = imageops.style_extract([data])

    assert len(style["palette"]) == 3
    for found, colour in zip(style["palette"], colours, strict=True):
        assert near(found, colour, 3)
    assert style["weights"] == pytest.approx(shares, abs=0.01)


@pytest.mark.parametrize("seeds", [(1,), (2, 5, 8)])
def test_palette_weights_add_up_to_one_dominant_first(seeds):
    prompts = ["a red house in flower fields", "a sunset over the mountains with a lake"]
    references = [rendered(prompts[s % 2], s, category="painting") for s in seeds]

    style = imageops.style_extract(references)

    weights = style["weights"]
    assert 1 <= len(style["palette"]) == len(weights) <= 8
    assert sum(weights) == pytest.approx(1.0, abs=0.002)
    assert weights == sorted(weights, reverse=True)
    assert all(0 <= v <= 255 for colour in style["palette"] for v in colour)


@pytest.mark.parametrize(
    ("word", "one", "other", "expected"),
    [
        ("tone", flat((25, 25, 30)), flat((235, 235, 230)), ("dark", "light")),
        ("saturation", flat((128, 128, 128)), flat((220, 40, 40)), ("muted", "vivid")),
        ("texture", flat((128, 128, 128)), flat((128, 128, 128), 40), ("smooth", "detailed")),
        ("warmth", flat((60, 110, 200)), flat((230, 140, 50)), ("cool", "warm")),
        ("contrast", flat((128, 128, 128)), halves((10, 10, 10), (245, 245, 245)), ("low", "high")),
    ],
)
def test_descriptor_words_follow_the_pictures(word, one, other, expected):
    first = imageops.style_extract([one])["descriptors"]
    second = imageops.style_extract([other])["descriptors"]

    assert (first[word], second[word]) == expected


def test_the_prompt_suffix_names_the_palette_colours_and_the_words():
    style = imageops.style_extract([three_colours()[0]])

    assert style["colour_names"][:3] == ["blue", "yellow", "red"]
    suffix = style["prompt_suffix"]
    assert all(name in suffix for name in style["colour_names"][:3])
    descriptors = style["descriptors"]
    assert all(descriptors[w] in suffix for w in ("tone", "contrast", "saturation", "texture"))


def test_transparent_pixels_are_left_out_of_the_palette():
    picture = np.zeros((64, 64, 4), np.uint8)  # transparent black
    picture[16:48, 16:48] = (30, 150, 60, 255)

    style = imageops.style_extract([encode(picture)])

    assert len(style["palette"]) == 1 and near(style["palette"][0], (30, 150, 60), 2)


@pytest.mark.parametrize("count", [0, 11])
def test_a_style_needs_1_to_10_references(count):
    with pytest.raises(ValueError):
        imageops.style_extract([flat((10, 20, 30))] * count)


def test_a_reference_that_is_not_a_picture_is_refused():
    with pytest.raises(ProviderError):
        imageops.style_extract([flat((10, 20, 30)), b"not an image"])


@pytest.mark.parametrize("count", [1, 3, 8])
def test_the_swatch_is_a_512_by_128_strip_of_the_palette_in_order(count):
    palette = np.random.default_rng(count).integers(0, 256, (count, 3)).tolist()
    assert all(a != b for a, b in itertools.pairwise(palette))

    swatch = opened(imageops.palette_swatch(palette))

    assert swatch.shape == (128, 512, 3)
    assert (swatch == swatch[:1]).all()  # every row the same
    row = swatch[0].astype(int)
    changes = np.flatnonzero(np.abs(np.diff(row, axis=0)).sum(axis=1)) + 1
    starts = [0, *changes.tolist()]
    widths = np.diff([*starts, 512])
    assert len(starts) == count and widths.max() - widths.min() <= 1  # equal stripes
    assert [row[start].tolist() for start in starts] == palette


@pytest.mark.parametrize(
    "palette",
    [
        [],
        [[1, 2]],
        [[1, 2, 3, 4]],
        [1, 2, 3, 4, 5, 6],  # a flat list is not two colours
        [[1, 2], [3, 4], [5, 6]],
        [[256, 0, 0]],
        [[-1, 0, 0]],
        [[1.5, 2, 3]],
        [["a", 1, 2]],
        [[1, 2, None]],
        [[1, 2, 3], [4, 5]],
        "abc",
        None,
        [[0, 0, 0]] * 513,
    ],
    ids=lambda palette: repr(palette)[:24],
)
def test_the_swatch_refuses_what_is_not_a_palette(palette):
    with pytest.raises(ValueError):
        imageops.palette_swatch(palette)


# --- decode ---------------------------------------------------------------------------------


def grey16(values: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(values.astype(np.uint16)).save(buffer, format="PNG", **options)
    return buffer.getvalue()


def pillow_encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


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


# --- progress and cancellation --------------------------------------------------------------


OPERATIONS = {
    "vectorize-color": lambda data, p: imageops.vectorize(data, progress=p),
    "vectorize-binary": lambda data, p: imageops.vectorize(data, mode="binary", progress=p),
    "remove-background": lambda data, p: imageops.remove_background(data, progress=p),
    "remove-background-flat": lambda _, p: imageops.remove_background(flat((9, 9, 9)), progress=p),
    "upscale": lambda data, p: imageops.upscale(data, scale=2, progress=p),
    "style": lambda data, p: imageops.style_extract([data, data, data], progress=p),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_progress_rises_from_0_to_100(operation):
    reports: list[int] = []

    OPERATIONS[operation](encode(circle_on_plain(160, 120)[0]), reports.append)

    assert reports
    assert all(isinstance(value, int) and 0 <= value <= 100 for value in reports)
    assert reports == sorted(reports)


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_cancel_raised_by_the_progress_callable_stops_the_operation(operation):
    data = encode(circle_on_plain(160, 120)[0])
    reports: list[int] = []
    OPERATIONS[operation](data, reports.append)

    for stop_at in range(len(reports)):  # at every report, the last one included
        calls = []

        def progress(percent, stop_at=stop_at, calls=calls):
            calls.append(percent)
            if len(calls) > stop_at:
                raise Cancelled()

        with pytest.raises(Cancelled):
            OPERATIONS[operation](data, progress)
        assert len(calls) == stop_at + 1  # nothing ran on to report again
