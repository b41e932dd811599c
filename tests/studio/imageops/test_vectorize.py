"""imageops.vectorize: raster to SVG, in colour or as a one-colour silhouette."""

import numpy as np
import pytest

from studio import imageops
from studio.imageops.vectorize import DETAILS, svg_fill_colours
from tests.studio.imageops.support import (
    BACKDROP,
    RED,
    SVG,
    circle_on_plain,
    drawn_box,
    encode,
    hex_rgb,
    near,
    noisy,
    parsed,
    paths,
    textured,
)


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
