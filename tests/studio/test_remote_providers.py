"""Remote providers over real HTTP against local fakes: the real InferenceClient and requests
code, every failure a ProviderError that says what happened, and nothing that hangs."""

import base64
import io
import time

import av
import pytest
import requests
from PIL import Image

from studio.providers.base import Cancelled, ImageRequest, ProviderError, VideoRequest
from studio.providers.huggingface import IMAGE_MODELS, VIDEO_MODELS, HuggingFaceProvider
from studio.providers.instant import InstantProvider, mp4_of_shape, png_of_size
from studio.providers.pollinations import PollinationsProvider
from tests.fakes.servers import (
    BOMB,
    DROP,
    EMPTY,
    GARBAGE,
    HANG,
    HF_TOKEN,
    TRUNCATED,
    FakeHuggingFace,
    FakePollinations,
    closed_port_url,
    http_error,
    other_size,
    png_image,
    wrong_content_type,
)

# Small, so a client that waits for a hanging server fails fast; the fakes give up on their
# own after HANG_LIMIT (10 s), which the elapsed-time checks below would catch.
TIMEOUT = 1.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FLUX = "black-forest-labs/FLUX.1-dev"
SDXL = "stabilityai/stable-diffusion-xl-base-1.0"
COGVIDEO = "THUDM/CogVideoX-5b"


def image_request(**overrides) -> ImageRequest:
    fields = {"prompt": "a red fox in the snow", "width": 64, "height": 48, "seed": 7}
    return ImageRequest(**{**fields, **overrides})


def video_request(**overrides) -> VideoRequest:
    fields = {"prompt": "waves at dusk", "width": 64, "height": 48, "duration": 2, "fps": 8}
    return VideoRequest(**{**fields, "seed": 3, **overrides})


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def cancel_at(percent: int):
    def progress(reported: int) -> None:
        if reported >= percent:
            raise Cancelled

    return progress


class Reports(list):
    def __call__(self, percent: int) -> None:
        self.append(percent)


@pytest.fixture
def hf_server():
    with FakeHuggingFace() as server:
        yield server


@pytest.fixture
def hf(hf_server):
    return HuggingFaceProvider(
        token=HF_TOKEN, provider="hf-inference", base_url=hf_server.url, timeout=TIMEOUT
    )


@pytest.fixture
def pollinations_server():
    with FakePollinations() as server:
        yield server


@pytest.fixture
def pollinations(pollinations_server):
    return PollinationsProvider(url=pollinations_server.url, timeout=TIMEOUT)


# --- Hugging Face: images --------------------------------------------------------------------


def test_hf_image_is_a_png_of_the_requested_size(hf, hf_server):
    reports = Reports()
    output = hf.generate_image(image_request(), reports)

    assert output.content_type == "image/png"
    assert (output.width, output.height) == (64, 48)
    assert png_size(output.data) == (64, 48)
    assert output.extra == {"model_id": FLUX, "hf_provider": "hf-inference"}
    assert reports == [10, 90, 100]
    assert len(hf_server.requests) == 1


def test_hf_image_parameters_reach_the_model_url_with_the_token(hf, hf_server):
    hf.generate_image(
        image_request(model="sdxl", steps=20, cfg_scale=5.5, negative_prompt="blurry, text"),
        Reports(),
    )

    [sent] = hf_server.requests
    assert sent.method == "POST"
    assert sent.path == f"/models/{SDXL}"
    assert sent.headers["authorization"] == f"Bearer {HF_TOKEN}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["accept"] == "image/png"
    assert sent.json == {
        "inputs": "a red fox in the snow",
        "parameters": {
            "width": 64,
            "height": 48,
            "num_inference_steps": 20,
            "guidance_scale": 5.5,
            "seed": 7,
            "negative_prompt": "blurry, text",
        },
    }


def test_hf_image_without_negative_prompt_does_not_send_one(hf, hf_server):
    hf.generate_image(image_request(negative_prompt=""), Reports())

    assert "negative_prompt" not in hf_server.requests[0].json["parameters"]


@pytest.mark.parametrize("key", sorted(IMAGE_MODELS))
def test_hf_every_catalog_image_model_has_a_hub_model(hf, hf_server, key):
    hf.generate_image(image_request(model=key), Reports())

    assert hf_server.requests[0].path == f"/models/{IMAGE_MODELS[key]}"
    assert IMAGE_MODELS[key] in (FLUX, SDXL)


def test_hf_image_at_another_size_is_fitted_and_the_native_size_recorded(hf, hf_server):
    hf_server.fail_next(other_size(128, 128))

    output = hf.generate_image(image_request(), Reports())

    assert png_size(output.data) == (64, 48)
    assert output.extra["provider_size"] == "128x128"


def test_hf_unknown_model_key_fails_without_a_request(hf, hf_server):
    with pytest.raises(ProviderError, match="no Hugging Face model for 'dall-e'"):
        hf.generate_image(image_request(model="dall-e"), Reports())

    assert hf_server.requests == []


def test_hf_wrong_token_is_a_401_provider_error(hf_server):
    provider = HuggingFaceProvider(
        token="hf_wrong", provider="hf-inference", base_url=hf_server.url, timeout=TIMEOUT
    )

    with pytest.raises(ProviderError) as caught:
        provider.generate_image(image_request(), Reports())

    assert str(caught.value).startswith("huggingface: 401 Unauthorized")
    assert "Invalid credentials" in str(caught.value)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        pytest.param(
            http_error(503, {"error": "Model is loading", "estimated_time": 20}),
            "huggingface: 503 Service Unavailable: Model is loading (ready in about 20 s)",
            id="503-loading",
        ),
        pytest.param(
            http_error(422, {"error": "width must be a multiple of 8"}),
            "huggingface: 422 Unprocessable Entity: width must be a multiple of 8",
            id="422",
        ),
        pytest.param(http_error(500), "huggingface: 500 Internal Server Error", id="500"),
        pytest.param(GARBAGE, "huggingface: response is not a valid image", id="garbage"),
        pytest.param(EMPTY, "huggingface: response is not a valid image", id="empty"),
        pytest.param(TRUNCATED, "huggingface: response is not a valid image", id="truncated"),
        pytest.param(BOMB, "huggingface: response image is too large", id="bomb"),
        pytest.param(DROP, "huggingface: connection failed (RemoteProtocolError", id="drop"),
    ],
)
def test_hf_image_failures_are_provider_errors_that_say_why(hf, hf_server, fault, expected):
    hf_server.fail_next(fault)

    with pytest.raises(ProviderError) as caught:
        hf.generate_image(image_request(), Reports())

    assert str(caught.value).startswith(expected)
    assert len(hf_server.requests) == 1  # the client does not retry on its own
    # The fault was one response: the next call works.
    assert png_size(hf.generate_image(image_request(), Reports()).data) == (64, 48)


def test_hf_hanging_server_times_out_and_nothing_hangs(hf, hf_server):
    hf_server.fail_next(HANG)
    started = time.monotonic()

    with pytest.raises(ProviderError, match=r"huggingface: timed out after 1 s waiting for"):
        hf.generate_image(image_request(), Reports())

    assert time.monotonic() - started < 5
    hf_server.release.set()


def test_hf_unreachable_server_is_a_connection_error():
    provider = HuggingFaceProvider(
        token=HF_TOKEN, provider="hf-inference", base_url=closed_port_url(), timeout=TIMEOUT
    )

    with pytest.raises(ProviderError, match=r"huggingface: connection failed \(ConnectError"):
        provider.generate_image(image_request(), Reports())


def test_hf_cancelled_before_the_call_sends_nothing(hf, hf_server):
    with pytest.raises(Cancelled):
        hf.generate_image(image_request(), cancel_at(10))

    assert hf_server.requests == []


def test_hf_cancelled_after_the_call_propagates(hf, hf_server):
    with pytest.raises(Cancelled):
        hf.generate_image(image_request(), cancel_at(90))

    assert len(hf_server.requests) == 1


# --- Hugging Face: image to image ------------------------------------------------------------


def test_hf_image_to_image_sends_the_picture_and_target_size(hf, hf_server):
    source = png_image(32, 32, seed=5)
    reports = Reports()

    output = hf.image_to_image(
        source,
        "make it night",
        model="timbrooks/instruct-pix2pix",
        width=64,
        height=48,
        progress=reports,
    )

    assert png_size(output.data) == (64, 48)
    assert reports == [10, 90, 100]
    [sent] = hf_server.requests
    assert sent.path == "/models/timbrooks/instruct-pix2pix"
    assert sent.headers["authorization"] == f"Bearer {HF_TOKEN}"
    assert base64.b64decode(sent.json["inputs"]) == source
    assert sent.json["parameters"] == {
        "prompt": "make it night",
        "target_size": {"width": 64, "height": 48},
    }


def test_hf_image_to_image_without_a_size_keeps_the_models_size(hf, hf_server):
    output = hf.image_to_image(
        png_image(32, 24), "sepia", model="timbrooks/instruct-pix2pix", progress=Reports()
    )

    assert (output.width, output.height) == (32, 24)
    assert png_size(output.data) == (32, 24)


def test_hf_image_to_image_on_a_text_to_image_model_is_refused(hf, hf_server):
    # FLUX.1-dev serves text-to-image on hf-inference; the fake refuses what it does not serve.
    with pytest.raises(ProviderError, match=r"huggingface: 400 Bad Request: unknown parameter"):
        hf.image_to_image(png_image(32, 32), "sepia", model="flux-dev", progress=Reports())


# --- Hugging Face: video ---------------------------------------------------------------------


def test_hf_video_is_an_mp4_with_duration_times_fps_frames(hf, hf_server):
    reports = Reports()
    output = hf.generate_video(video_request(negative_prompt="shaky"), reports)

    assert output.content_type == "video/mp4"
    assert output.extra["frames"] == 16
    assert output.extra["model_id"] == COGVIDEO
    assert reports == [10, 90, 100]
    with av.open(io.BytesIO(output.data)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 16
    [sent] = hf_server.requests
    assert sent.path == f"/models/{COGVIDEO}"
    assert sent.headers["authorization"] == f"Bearer {HF_TOKEN}"
    assert sent.json == {
        "inputs": "waves at dusk",
        "parameters": {"num_frames": 16, "seed": 3, "negative_prompt": ["shaky"]},
    }


@pytest.mark.parametrize("key", sorted(VIDEO_MODELS))
def test_hf_every_catalog_video_model_runs_cogvideox(hf, hf_server, key):
    hf.generate_video(video_request(model=key, duration=1), Reports())

    assert hf_server.requests[0].path == f"/models/{COGVIDEO}"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        pytest.param(
            http_error(503, {"error": "Model is loading", "estimated_time": 120}),
            "huggingface: 503 Service Unavailable: Model is loading (ready in about 120 s)",
            id="503-loading",
        ),
        pytest.param(GARBAGE, "huggingface: response is not a valid video", id="garbage"),
        pytest.param(EMPTY, "huggingface: empty response instead of a video", id="empty"),
        pytest.param(TRUNCATED, "huggingface: response is not a valid video", id="truncated"),
    ],
)
def test_hf_video_failures_are_provider_errors(hf, hf_server, fault, expected):
    hf_server.fail_next(fault)

    with pytest.raises(ProviderError) as caught:
        hf.generate_video(video_request(), Reports())

    assert str(caught.value).startswith(expected)


def test_hf_video_hanging_server_times_out(hf, hf_server):
    hf_server.fail_next(HANG)
    started = time.monotonic()

    with pytest.raises(ProviderError, match="huggingface: timed out after 1 s"):
        hf.generate_video(video_request(), Reports())

    assert time.monotonic() - started < 5


def test_hf_video_cancelled_after_the_call_propagates(hf, hf_server):
    with pytest.raises(Cancelled):
        hf.generate_video(video_request(), cancel_at(90))


# --- Hugging Face: routing and settings ------------------------------------------------------


def test_hf_inference_clients_post_to_the_model_url(hf_server):
    provider = HuggingFaceProvider(
        token=HF_TOKEN, provider="hf-inference", base_url=f"{hf_server.url}/", timeout=9
    )

    client, model = provider.client_for(FLUX)

    assert client.model == f"{hf_server.url}/models/{FLUX}"
    assert client.provider is None
    assert client.token == HF_TOKEN
    assert client.timeout == 9
    assert model is None  # a model id here would make the client look the model up on the Hub


@pytest.mark.parametrize("name", ["fal-ai", "replicate"])
def test_other_hf_providers_route_by_model_id(name):
    provider = HuggingFaceProvider(token="hf_secret", provider=name, timeout=7)

    client, model = provider.client_for(FLUX)

    assert client.provider == name
    assert client.token == "hf_secret"
    assert client.timeout == 7
    assert client.model is None
    assert model == FLUX


def test_unknown_hf_provider_is_a_provider_error_before_any_request():
    provider = HuggingFaceProvider(token=HF_TOKEN, provider="no-such-provider", timeout=TIMEOUT)

    with pytest.raises(ProviderError, match="huggingface: Provider 'no-such-provider' not"):
        provider.generate_image(image_request(), Reports())


def test_hf_provider_reads_its_settings(settings):
    settings.HF_TOKEN = "hf_from_settings"
    settings.HF_PROVIDER = "replicate"
    settings.HF_BASE_URL = "http://127.0.0.1:9/hf"
    settings.HF_TIMEOUT = 42

    provider = HuggingFaceProvider()

    assert (provider.token, provider.provider, provider.base_url, provider.timeout) == (
        "hf_from_settings",
        "replicate",
        "http://127.0.0.1:9/hf",
        42.0,
    )


# --- Pollinations ----------------------------------------------------------------------------


def test_pollinations_image_is_a_png_of_the_requested_size(pollinations, pollinations_server):
    reports = Reports()
    output = pollinations.generate_image(image_request(), reports)

    assert output.content_type == "image/png"
    assert png_size(output.data) == (64, 48)  # converted from the service's JPEG
    assert output.extra == {"model_id": "flux"}
    assert reports == [10, 90, 100]


def test_pollinations_query_carries_size_seed_model_and_nologo(pollinations, pollinations_server):
    pollinations.generate_image(image_request(model="sdxl", seed=1234), Reports())

    [sent] = pollinations_server.requests
    assert sent.method == "GET"
    assert sent.prompt == "a red fox in the snow"
    assert sent.query == {
        "width": ["64"],
        "height": ["48"],
        "seed": ["1234"],
        "model": ["turbo"],
        "nologo": ["true"],
    }


@pytest.mark.parametrize(
    "prompt",
    [
        "a cat on a mat",
        "café crème ☕ at 東京 station",
        "AC/DC poster: 50% off? #1 & more+ ;=",
        "../../etc/passwd",
        "a\nnew line and a\ttab",
    ],
)
def test_pollinations_prompt_travels_as_one_encoded_segment(
    pollinations, pollinations_server, prompt
):
    pollinations.generate_image(image_request(prompt=prompt), Reports())

    [sent] = pollinations_server.requests
    assert sent.prompt == prompt
    assert sent.path.count("/") == 2  # "/prompt/<segment>"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        pytest.param(
            http_error(500, {"error": "Internal error"}),
            "pollinations: 500 Internal Server Error: Internal error",
            id="500",
        ),
        pytest.param(
            http_error(429, "Too many requests, slow down"),
            "pollinations: 429 Too Many Requests: Too many requests, slow down",
            id="429-text",
        ),
        pytest.param(
            wrong_content_type("text/html; charset=utf-8"),
            "pollinations: expected an image, got text/html",
            id="html",
        ),
        pytest.param(GARBAGE, "pollinations: response is not a valid image", id="garbage"),
        pytest.param(EMPTY, "pollinations: empty response instead of an image", id="empty"),
        pytest.param(TRUNCATED, "pollinations: response is not a valid image", id="truncated"),
        pytest.param(BOMB, "pollinations: response image is too large", id="bomb"),
        pytest.param(DROP, "pollinations: connection failed", id="drop"),
    ],
)
def test_pollinations_failures_are_provider_errors_that_say_why(
    pollinations, pollinations_server, fault, expected
):
    pollinations_server.fail_next(fault)

    with pytest.raises(ProviderError) as caught:
        pollinations.generate_image(image_request(), Reports())

    assert str(caught.value).startswith(expected)
    assert png_size(pollinations.generate_image(image_request(), Reports()).data) == (64, 48)


def test_pollinations_hanging_server_times_out(pollinations, pollinations_server):
    pollinations_server.fail_next(HANG)
    started = time.monotonic()

    with pytest.raises(ProviderError, match="pollinations: timed out after 1 s"):
        pollinations.generate_image(image_request(), Reports())

    assert time.monotonic() - started < 5


def test_pollinations_unreachable_server_is_a_connection_error():
    provider = PollinationsProvider(url=closed_port_url(), timeout=TIMEOUT)

    with pytest.raises(ProviderError, match="pollinations: connection failed"):
        provider.generate_image(image_request(), Reports())


def test_pollinations_cancelled_before_the_call_sends_nothing(pollinations, pollinations_server):
    with pytest.raises(Cancelled):
        pollinations.generate_image(image_request(), cancel_at(10))

    assert pollinations_server.requests == []


def test_pollinations_has_no_video(pollinations):
    with pytest.raises(ProviderError, match="pollinations: video is not supported"):
        pollinations.generate_video(video_request(), Reports())


def test_pollinations_without_a_url_is_a_provider_error(settings):
    settings.POLLINATIONS_URL = None

    with pytest.raises(ProviderError, match="POLLINATIONS_URL is not set"):
        PollinationsProvider().generate_image(image_request(), Reports())


# --- The fakes refuse what a real service would ----------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("GET", f"/models/{FLUX}", {}, None, 405),
        ("POST", "/models/nobody/nothing", {}, {"inputs": "x"}, 404),
        ("POST", f"/models/{FLUX}", {"Authorization": "Bearer nope"}, {"inputs": "x"}, 401),
        ("POST", f"/models/{FLUX}", {}, {"prompt": "x"}, 400),
        ("POST", f"/models/{FLUX}", {}, {"inputs": "x", "parameters": {"size": 5}}, 400),
        ("POST", f"/models/{FLUX}", {}, {"inputs": "x", "parameters": {"width": "64"}}, 400),
        ("POST", f"/models/{COGVIDEO}", {}, {"inputs": "x", "parameters": {"seed": True}}, 400),
        (
            "POST",
            f"/models/{COGVIDEO}",
            {},
            {"inputs": "x", "parameters": {"negative_prompt": "not a list"}},
            400,
        ),
    ],
)
def test_fake_huggingface_refuses_bad_requests(hf_server, method, path, headers, body, status):
    headers = {"Authorization": f"Bearer {HF_TOKEN}", **headers}

    response = requests.request(
        method, hf_server.url + path, json=body, headers=headers, timeout=TIMEOUT
    )

    assert response.status_code == status, response.text
    assert "error" in response.json()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/prompt/cat", 405),
        ("GET", "/image/cat", 404),
        ("GET", "/prompt/AC/DC", 404),  # an unencoded "/" splits the prompt
        ("GET", "/prompt/cat?width=wide", 400),
        ("GET", "/prompt/cat?model=dalle", 400),
        ("GET", "/prompt/cat?sizee=64", 400),
        ("GET", "/prompt/caf%E9", 400),  # Latin-1, not UTF-8
    ],
)
def test_fake_pollinations_refuses_bad_requests(pollinations_server, method, path, status):
    response = requests.request(method, pollinations_server.url + path, timeout=TIMEOUT)

    assert response.status_code == status, response.text


# --- Instant ---------------------------------------------------------------------------------


def test_instant_image_is_a_ready_tiny_png_served_from_memory():
    provider = InstantProvider()
    reports = Reports()

    first = provider.generate_image(image_request(width=1024, height=768), reports)
    again = provider.generate_image(image_request(width=2048, height=2048, seed=99), Reports())

    assert first.content_type == "image/png"
    assert png_size(first.data) == (first.width, first.height) == (16, 16)
    assert first.extra == {"requested_size": "1024x768"}
    assert again.data is first.data  # encoded once
    assert reports == [100]


def test_instant_video_has_duration_times_fps_frames_and_is_deterministic():
    output = InstantProvider().generate_video(video_request(duration=2, fps=6), Reports())

    with av.open(io.BytesIO(output.data)) as container:
        stream = container.streams.video[0]
        assert sum(1 for _ in container.decode(stream)) == 12
        assert (stream.codec_context.width, stream.codec_context.height) == (64, 48)
        assert stream.codec_context.name == "h264"
    assert output.extra == {"frames": 12, "fps": 6.0, "duration": 2}
    mp4_of_shape.cache_clear()
    png_of_size.cache_clear()
    assert InstantProvider().generate_video(video_request(duration=2, fps=6), Reports()) == output


def test_instant_video_refuses_odd_sizes():
    with pytest.raises(ProviderError, match="must be even"):
        InstantProvider().generate_video(video_request(width=65), Reports())


def test_instant_cancelled_propagates():
    with pytest.raises(Cancelled):
        InstantProvider().generate_image(image_request(), cancel_at(100))
