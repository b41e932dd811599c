"""imageops.upscale: exact 2x and 4x sizes, detail kept, no halos, limits checked first."""

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio import imageops
from studio.providers.base import ProviderError
from tests.studio.imageops.support import (
    antialiased_disc_on_clear,
    encode,
    near,
    png_header_only,
    sharp_edges,
    textured,
    upscaled,
    with_orientation,
)


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
