"""Background removal on Hugging Face: a segmentation model through the real InferenceClient
against the local fake; every failure a ProviderError that says why."""

import base64
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

from studio.providers.base import ProviderError
from studio.providers.huggingface import SEGMENTATION_MAX_SIDE, HuggingFaceProvider
from tests.fakes.huggingface import HF_MODELS, FakeHuggingFace
from tests.fakes.servers import (
    BLANK_MASKS,
    BOMB,
    DROP,
    EMPTY,
    GARBAGE,
    HANG,
    HF_TOKEN,
    NO_SEGMENTS,
    TRUNCATED,
    http_error,
    json_answer,
    other_size,
)
from tests.studio.hf_operations.support import (
    RADIUS,
    SEGMENTER,
    SIDE,
    TIMEOUT,
    Reports,
    alpha_of,
    b64_mask,
    circle_png,
    circle_regions,
    decoded,
    encode,
    removal,
)


def test_background_removal_is_an_rgba_png_of_the_source_size_with_the_backdrop_clear(hf):
    reports = Reports()

    output = hf.operate(removal(), reports)

    assert output.content_type == "image/png"
    assert (output.width, output.height) == (SIDE, SIDE)
    assert decoded(output.data).size == (SIDE, SIDE)
    alpha = alpha_of(output.data)
    inside, outside = circle_regions()
    assert (alpha[outside] == 0).mean() > 0.99
    assert (alpha[inside] == 255).mean() > 0.99
    # The subject keeps its colours.
    pixels = np.asarray(decoded(output.data))
    assert (pixels[inside][:, :3] == (220, 20, 20)).all()
    assert reports == [10, 90, 100]


def test_background_removal_records_method_model_and_foreground_fraction(hf):
    output = hf.operate(removal(), Reports())

    circle_share = np.pi * RADIUS**2 / SIDE**2
    assert output.extra == {
        "method": "segmentation",
        "model_id": SEGMENTER,
        "hf_provider": "hf-inference",
        "foreground_fraction": pytest.approx(circle_share, abs=0.01),
    }


def test_background_removal_posts_the_picture_to_the_segmentation_model_with_the_token(
    hf, hf_server
):
    source = circle_png()

    hf.operate(removal(source), Reports())

    [sent] = hf_server.requests
    assert sent.method == "POST"
    assert sent.path == f"/models/{SEGMENTER}"
    assert sent.headers["authorization"] == f"Bearer {HF_TOKEN}"
    # No parameters: the picture itself is the body, labelled as what it is.
    assert sent.headers["content-type"] == "image/png"
    assert sent.json is None
    uploaded = decoded(sent.body)
    assert uploaded.size == (SIDE, SIDE)
    assert np.array_equal(np.asarray(uploaded.convert("RGB")), np.asarray(decoded(source)))


def test_background_removal_uses_the_configured_segmentation_model(settings):
    settings.HF_SEGMENTATION_MODEL = "acme/cutout-v2"
    with FakeHuggingFace(models={**HF_MODELS, "acme/cutout-v2": "image-segmentation"}) as server:
        provider = HuggingFaceProvider(
            token=HF_TOKEN, provider="hf-inference", base_url=server.url, timeout=TIMEOUT
        )

        output = provider.operate(removal(), Reports())

    assert server.requests[0].path == "/models/acme/cutout-v2"
    assert output.extra["model_id"] == "acme/cutout-v2"


@pytest.mark.parametrize("label", ["background", "Background", "bg", "unlabeled"])
def test_backdrop_segments_are_left_out_of_the_subject(hf, hf_server, label):
    inside, outside = circle_regions()
    everything = np.ones((SIDE, SIDE), dtype=bool)
    subject = ~outside  # the circle and its rim
    hf_server.fail_next(
        json_answer(
            [
                {"label": label, "score": 0.99, "mask": b64_mask(everything)},
                {"label": "object", "score": 0.97, "mask": b64_mask(subject)},
            ]
        )
    )

    alpha = alpha_of(hf.operate(removal(), Reports()).data)

    assert (alpha[outside] == 0).all()
    assert (alpha[inside] == 255).all()


def test_the_fakes_own_background_segment_is_left_out(hf_server, hf):
    # The fake lists "background" first: taking the first segment as the subject would keep
    # the backdrop opaque and the circle clear.
    assert hf_server.background_segment
    output = hf.operate(removal(), Reports())

    _, outside = circle_regions()
    assert (alpha_of(output.data)[outside] == 0).mean() > 0.99


def test_the_subject_is_the_union_of_every_other_segment(hf, hf_server):
    left = np.zeros((SIDE, SIDE), dtype=bool)
    left[:, :64] = True
    bottom = np.zeros((SIDE, SIDE), dtype=bool)
    bottom[200:, :] = True
    hf_server.fail_next(
        json_answer(
            [
                {"label": "person", "score": 0.9, "mask": b64_mask(left)},
                {"label": "dog", "score": 0.8, "mask": b64_mask(bottom)},
            ]
        )
    )

    output = hf.operate(removal(), Reports())

    alpha = alpha_of(output.data)
    assert np.array_equal(alpha == 255, left | bottom)
    assert np.array_equal(alpha == 0, ~(left | bottom))
    assert output.extra["foreground_fraction"] == round((left | bottom).mean(), 4)


def test_masks_at_another_size_are_scaled_to_the_source(hf, hf_server):
    hf_server.fail_next(other_size(64, 64))

    output = hf.operate(removal(), Reports())

    assert decoded(output.data).size == (SIDE, SIDE)
    inside, outside = circle_regions()
    alpha = alpha_of(output.data)
    assert (alpha[outside] == 0).mean() > 0.99
    assert (alpha[inside] == 255).mean() > 0.99


def test_a_large_source_is_sent_smaller_and_cut_out_at_full_size(hf, hf_server):
    width, height = 3000, 400
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).rectangle((1000, 100, 1999, 299), fill="navy")

    output = hf.operate(removal(encode(image)), Reports())

    uploaded = decoded(hf_server.requests[0].body)
    assert max(uploaded.size) == SEGMENTATION_MAX_SIDE
    assert (output.width, output.height) == (width, height)
    alpha = alpha_of(output.data)
    assert alpha.shape == (height, width)
    assert (alpha[110:290, 1010:1990] == 255).all()
    assert (alpha[:, :980] == 0).all() and (alpha[:, 2020:] == 0).all()


def test_a_transparent_source_keeps_its_transparency_and_is_shown_on_white(hf, hf_server):
    image = decoded(circle_png()).convert("RGBA")
    hidden = np.asarray(image).copy()
    hidden[:, : SIDE // 2, 3] = 0  # the left half was already cut away...
    hidden[:, : SIDE // 2, :3] = (0, 0, 0)  # ...over black the model must not see
    source = encode(Image.fromarray(hidden, "RGBA"))

    alpha = alpha_of(hf.operate(removal(source), Reports()).data)

    uploaded = np.asarray(decoded(hf_server.requests[0].body).convert("RGB"))
    assert (uploaded[:, : SIDE // 2] == 255).all()
    inside, outside = circle_regions()
    assert (alpha[:, : SIDE // 2] == 0).all()
    assert (alpha[:, SIDE // 2 :][inside[:, SIDE // 2 :]] == 255).all()
    assert (alpha[outside] == 0).all()


def test_what_the_source_had_cut_away_stays_transparent_whatever_the_model_says(hf, hf_server):
    image = Image.new("RGBA", (SIDE, SIDE), (10, 200, 10, 255))
    image.paste((10, 200, 10, 0), (0, 0, SIDE // 2, SIDE))
    everything = np.ones((SIDE, SIDE), dtype=bool)
    hf_server.fail_next(
        json_answer([{"label": "plant", "score": 1.0, "mask": b64_mask(everything)}])
    )

    output = hf.operate(removal(encode(image)), Reports())

    alpha = alpha_of(output.data)
    assert (alpha[:, : SIDE // 2] == 0).all()
    assert (alpha[:, SIDE // 2 :] == 255).all()
    assert output.extra["foreground_fraction"] == 0.5


def test_an_exif_rotated_photo_is_cut_out_upright(hf, hf_server):
    image = Image.new("RGB", (300, 200), "white")
    ImageDraw.Draw(image).rectangle((20, 50, 99, 149), fill="black")  # left part, stored sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    source = encode(image, "JPEG", quality=95, exif=exif)

    output = hf.operate(removal(source), Reports())

    assert (output.width, output.height) == (200, 300)
    assert decoded(hf_server.requests[0].body).size == (200, 300)
    alpha = alpha_of(output.data)
    # Upright, the square sits at the top: rows 20..99, columns 50..149.
    assert (alpha[30:90, 60:140] == 255).all()
    assert (alpha[120:, :] == 0).mean() > 0.99


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(NO_SEGMENTS, id="no-segments"),
        pytest.param(BLANK_MASKS, id="blank-masks"),
        pytest.param(
            json_answer([{"label": "background", "score": 1.0, "mask": b64_mask(np.ones((8, 8)))}]),
            id="only-background",
        ),
    ],
)
def test_no_subject_is_a_provider_error(hf, hf_server, answer):
    hf_server.fail_next(answer)

    with pytest.raises(ProviderError, match=r"^huggingface: the segmentation found no subject$"):
        hf.operate(removal(), Reports())


def test_a_subject_only_where_the_source_was_already_transparent_is_no_subject(hf, hf_server):
    image = decoded(circle_png()).convert("RGBA")
    image.putalpha(0)

    with pytest.raises(ProviderError, match="found no subject"):
        hf.operate(removal(encode(image)), Reports())


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        pytest.param(
            http_error(503, {"error": "Model is loading", "estimated_time": 20}),
            "huggingface: 503 Service Unavailable: Model is loading (ready in about 20 s)",
            id="503-loading",
        ),
        pytest.param(
            http_error(422, {"error": "image must be at least 32 pixels"}),
            "huggingface: 422 Unprocessable Entity: image must be at least 32 pixels",
            id="422",
        ),
        pytest.param(http_error(500), "huggingface: 500 Internal Server Error", id="500"),
        pytest.param(
            GARBAGE,
            "huggingface: response is not a valid segmentation (JSONDecodeError",
            id="garbage",
        ),
        pytest.param(
            EMPTY, "huggingface: response is not a valid segmentation (JSONDecodeError", id="empty"
        ),
        pytest.param(
            TRUNCATED,
            "huggingface: response is not a valid segmentation (JSONDecodeError",
            id="truncated",
        ),
        pytest.param(
            BOMB, "huggingface: response is not a valid segmentation (UnicodeDecodeError", id="png"
        ),
        pytest.param(DROP, "huggingface: connection failed (RemoteProtocolError", id="drop"),
        pytest.param(
            json_answer({"error": "busy"}),
            "huggingface: Invalid input data for",
            id="object-not-list",
        ),
        pytest.param(
            json_answer([{"label": "cat", "score": 0.9}]),
            "huggingface: response is not a valid segmentation (TypeError",
            id="no-mask",
        ),
        pytest.param(
            json_answer([{"label": "cat", "mask": base64.b64encode(b"not a png").decode()}]),
            "huggingface: a segment's mask is not a valid image (UnidentifiedImageError)",
            id="mask-not-an-image",
        ),
    ],
)
def test_segmentation_failures_are_provider_errors_that_say_why(hf, hf_server, fault, expected):
    hf_server.fail_next(fault)

    with pytest.raises(ProviderError) as caught:
        hf.operate(removal(), Reports())

    assert str(caught.value).startswith(expected)
    assert len(hf_server.requests) == 1  # the client does not retry on its own
    # The fault was one response: the next call works.
    assert hf.operate(removal(), Reports()).width == SIDE


def test_a_truncated_mask_is_a_provider_error(hf, hf_server):
    inside, _ = circle_regions()
    whole = base64.b64decode(b64_mask(inside))
    cut = base64.b64encode(whole[: len(whole) // 2]).decode()
    hf_server.fail_next(json_answer([{"label": "object", "score": 1.0, "mask": cut}]))

    with pytest.raises(ProviderError, match="huggingface: a segment's mask is not a valid image"):
        hf.operate(removal(), Reports())


def test_segmentation_hanging_server_times_out(hf, hf_server):
    hf_server.fail_next(HANG)
    started = time.monotonic()

    with pytest.raises(
        ProviderError, match=rf"huggingface: timed out after 1 s waiting for {SEGMENTER}"
    ):
        hf.operate(removal(), Reports())

    assert time.monotonic() - started < 5
    hf_server.release.set()


def test_segmentation_with_a_wrong_token_is_a_401_provider_error(hf_server):
    provider = HuggingFaceProvider(
        token="hf_wrong", provider="hf-inference", base_url=hf_server.url, timeout=TIMEOUT
    )

    with pytest.raises(ProviderError, match=r"^huggingface: 401 Unauthorized: Invalid credentials"):
        provider.operate(removal(), Reports())


def test_an_unreadable_source_fails_before_any_request(hf, hf_server):
    with pytest.raises(ProviderError, match="huggingface: the source is not a readable image"):
        hf.operate(removal(b"GIF89a not really"), Reports())

    assert hf_server.requests == []
