"""imageops.style_extract and palette_swatch: palette, words and prompt suffix of a style."""

import itertools

import numpy as np
import pytest

from studio import imageops
from studio.providers.base import ProviderError
from tests.studio.imageops.support import (
    encode,
    flat,
    halves,
    near,
    opened,
    rendered,
    three_colours,
)


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
