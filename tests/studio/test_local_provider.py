"""The offline `local` provider: real pictures and films, deterministic, in every look."""

import io
import itertools
import os
import tempfile

import av
import numpy as np
import pytest
from PIL import Image

from studio.providers.base import (
    Cancelled,
    ImageRequest,
    ProviderError,
    VideoRequest,
    no_progress,
)
from studio.providers.local import LocalProvider

CATEGORIES = (
    "photorealistic", "anime", "painting", "sketch", "realistic", "3d-render", "abstract",
    "fantasy",
)  # fmt: skip
PROMPT = "a sunset over the mountains with a lake reflection"

provider = LocalProvider()


def image_request(**changes) -> ImageRequest:
    fields = {"prompt": PROMPT, "width": 384, "height": 384, "seed": 7}
    return ImageRequest(**{**fields, **changes})


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"), dtype=np.float32)


def picture(**changes) -> np.ndarray:
    return pixels(provider.generate_image(image_request(**changes), no_progress).data)


def saturation(rgb: np.ndarray) -> float:
    high, low = rgb.max(axis=-1), rgb.min(axis=-1)
    return float(np.mean((high - low) / np.maximum(high, 1)))


def distinct_colours(rgb: np.ndarray) -> int:
    q = rgb.astype(np.uint8) >> 3  # 32 levels per channel
    return len(np.unique(q[..., 0].astype(np.int32) << 10 | q[..., 1] << 5 | q[..., 2]))


def local_texture(rgb: np.ndarray) -> float:
    """Median absolute Laplacian of luminance: 0 on flat colour, high on brushwork."""
    lum = rgb.mean(axis=-1)
    lap = 4 * lum[1:-1, 1:-1] - lum[:-2, 1:-1] - lum[2:, 1:-1] - lum[1:-1, :-2] - lum[1:-1, 2:]
    return float(np.median(np.abs(lap)))


@pytest.mark.parametrize(("width", "height"), [(1024, 1024), (2048, 2048), (1920, 1080)])
def test_image_is_a_png_of_exactly_the_requested_size(width, height):
    out = provider.generate_image(image_request(width=width, height=height), no_progress)

    assert out.content_type == "image/png"
    assert (out.width, out.height) == (width, height)
    with Image.open(io.BytesIO(out.data)) as image:
        assert image.format == "PNG"
        assert image.size == (width, height)
        image.load()
    assert out.extra["renderer"] == "local"


def test_picture_is_not_blank():
    rgb = picture()

    assert rgb.std() > 20
    assert distinct_colours(rgb) > 200


def test_same_request_gives_identical_bytes():
    request = image_request(category="painting", palette=((20, 60, 40), (200, 220, 120)))

    first = provider.generate_image(request, no_progress).data
    second = provider.generate_image(request, no_progress).data

    assert first == second


def test_another_seed_gives_another_picture():
    difference = np.abs(picture(seed=1) - picture(seed=2)).mean()

    assert difference > 10


def test_another_prompt_gives_another_picture():
    difference = np.abs(picture(prompt="a city skyline at night") - picture()).mean()

    assert difference > 10


def test_unknown_words_still_make_a_coherent_scene():
    out = provider.generate_image(image_request(prompt="the quiet thoughts of a banker"),
                                  no_progress)  # fmt: skip

    rgb = pixels(out.data)
    assert rgb.std() > 20
    # Sky above, land below: the two halves are different pictures, not one noise field.
    assert np.abs(rgb[:64].mean(axis=(0, 1)) - rgb[-64:].mean(axis=(0, 1))).max() > 15
    assert out.extra["elements"]


@pytest.mark.parametrize("category", CATEGORIES)
def test_each_category_changes_the_picture(category):
    difference = np.abs(picture(category=category) - picture()).mean()

    assert difference > 12


def test_anime_is_flat_cel_colour():
    anime, photo = picture(category="anime"), picture(category="photorealistic")

    assert distinct_colours(anime) < 64
    assert distinct_colours(anime) * 5 < distinct_colours(photo)
    assert local_texture(anime) < 0.5


def test_sketch_is_graphite_on_paper():
    sketch, default = picture(category="sketch"), picture()

    assert saturation(sketch) < 0.1
    assert saturation(default) > 2 * saturation(sketch)
    # Mostly light paper with dark strokes, not a grey wash.
    lum = sketch.mean(axis=-1)
    assert np.median(lum) > 120
    assert (lum < 90).mean() > 0.03


def test_painting_has_brush_texture_where_anime_is_flat():
    painting, anime = picture(category="painting"), picture(category="anime")

    assert local_texture(painting) > local_texture(anime) + 2


def test_photorealistic_has_grain_and_vignette():
    photo, default = picture(category="photorealistic"), picture()

    assert local_texture(photo) > local_texture(default) + 2
    lum = photo.mean(axis=-1)
    corners = np.concatenate([lum[:32, :32], lum[:32, -32:], lum[-32:, :32], lum[-32:, -32:]])
    centre = lum[96:-96, 96:-96]
    assert corners.mean() < centre.mean()


def test_fantasy_is_more_saturated_than_the_default():
    assert saturation(picture(category="fantasy")) > saturation(picture()) + 0.03


def test_palette_pulls_colours_toward_it():
    greens = ((10, 40, 20), (40, 120, 50), (150, 220, 120))
    plain, styled = picture(), picture(palette=greens)
    stops = np.array(greens, np.float32)

    def distance(rgb: np.ndarray) -> float:
        flat = rgb.reshape(-1, 1, 3)
        return float(np.sqrt(((flat - stops[None]) ** 2).sum(-1)).min(axis=1).mean())

    assert distance(styled) < 0.6 * distance(plain)


def test_negative_prompt_removes_what_it_names():
    out = provider.generate_image(image_request(negative_prompt="water"), no_progress)

    assert "water" not in out.extra["elements"]
    assert "mountains" in out.extra["elements"]


def test_style_words_grade_the_picture():
    difference = np.abs(picture(style="cinematic") - picture(style="noir")).mean()

    assert difference > 8


def test_image_progress_rises_from_low_to_high():
    seen: list[int] = []

    provider.generate_image(image_request(category="sketch"), seen.append)

    assert len(seen) >= 5
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert seen[0] <= 10 and seen[-1] >= 90


def test_cancelled_progress_stops_the_image():
    calls: list[int] = []

    def cancel_on_third(percent: int) -> None:
        calls.append(percent)
        if len(calls) == 3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        provider.generate_image(image_request(), cancel_on_third)
    assert len(calls) == 3


@pytest.mark.parametrize("size", [(8, 8), (5000, 1024)])
def test_absurd_image_sizes_are_refused(size):
    with pytest.raises(ProviderError):
        provider.generate_image(image_request(width=size[0], height=size[1]), no_progress)


def decode(data: bytes) -> tuple[dict, list[np.ndarray], str]:
    """The video stream's codec and frame rate (read while the container is open: PyAV 18.1.1
    refuses a closed one's), its frames, and their pixel format."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        facts = {"codec": stream.codec_context.name, "rate": float(stream.average_rate)}
        frames, formats = [], set()
        for frame in container.decode(stream):
            formats.add(frame.format.name)
            frames.append(frame.to_ndarray(format="rgb24").astype(np.float32))
        return facts, frames, formats.pop() if len(formats) == 1 else str(formats)


def top_level_boxes(data: bytes) -> list[str]:
    """The MP4's top-level box types in file order (ftyp, moov, mdat...)."""
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        boxes.append(data[offset + 4 : offset + 8].decode("latin-1"))
        if size == 1:  # a 64-bit size follows the type
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        if size < 8:
            break
        offset += size
    return boxes


def video_request(**changes) -> VideoRequest:
    fields = {"prompt": PROMPT, "width": 1280, "height": 720, "duration": 3, "fps": 8, "seed": 3}
    return VideoRequest(**{**fields, **changes})


@pytest.mark.parametrize(
    ("width", "height", "duration", "fps"), [(1280, 720, 3, 8), (1024, 576, 3, 12)]
)
def test_video_is_h264_mp4_with_duration_times_fps_frames(width, height, duration, fps):
    request = video_request(width=width, height=height, duration=duration, fps=fps)

    out = provider.generate_video(request, no_progress)

    assert out.content_type == "video/mp4"
    assert (out.width, out.height) == (width, height)
    assert out.extra["frames"] == duration * fps
    stream, frames, pixel_format = decode(out.data)
    assert stream["codec"] == "h264"
    assert pixel_format == "yuv420p"
    assert len(frames) == duration * fps
    assert frames[0].shape == (height, width, 3)
    assert stream["rate"] == fps
    # The index comes before the media data, so browsers can start playing at once.
    boxes = top_level_boxes(out.data)
    assert boxes.index("moov") < boxes.index("mdat")


def test_video_moves():
    _, frames, _ = decode(provider.generate_video(video_request(), no_progress).data)

    steps = [np.abs(a - b).mean() for a, b in itertools.pairwise(frames)]
    assert min(steps) > 0.05  # every frame differs from the one before
    assert np.abs(frames[0] - frames[-1]).mean() > 3  # and the camera has really moved
    assert frames[0].std() > 20


def test_video_frames_are_deterministic():
    request = video_request(duration=3, fps=8, prompt="a cat on a hill under the moon")

    _, first, _ = decode(provider.generate_video(request, no_progress).data)
    _, second, _ = decode(provider.generate_video(request, no_progress).data)

    assert len(first) == len(second)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_odd_video_sizes_are_rounded_down_to_even():
    out = provider.generate_video(video_request(width=641, height=361), no_progress)

    assert (out.width, out.height) == (640, 360)
    _, frames, _ = decode(out.data)
    assert frames[0].shape == (360, 640, 3)


def test_video_progress_rises_and_cancelling_stops_it_cleanly():
    seen: list[int] = []
    provider.generate_video(video_request(width=640, height=360), seen.append)
    assert len(seen) >= 5
    assert seen == sorted(seen)
    assert seen[0] <= 10 and seen[-1] >= 90

    def leftovers() -> set[str]:
        return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("craftframe-film-")}

    before = leftovers()
    calls: list[int] = []

    def cancel_while_encoding(percent: int) -> None:
        calls.append(percent)
        if percent >= 40:
            raise Cancelled()

    with pytest.raises(Cancelled):
        provider.generate_video(video_request(width=640, height=360), cancel_while_encoding)
    assert calls[-1] >= 40
    assert leftovers() == before
