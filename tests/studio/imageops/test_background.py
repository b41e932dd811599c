"""imageops.remove_background: the backdrop transparent, the subject opaque."""

import numpy as np
import pytest

from studio.imageops import common
from tests.studio.imageops.support import (
    BACKDROP,
    circle_on_plain,
    cut,
    disc,
    encode,
    noisy,
    object_on_the_bottom_edge,
    shaded_object_on_graded_noise,
)


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
