"""Hugging Face over real HTTP against the local fake: the real InferenceClient for images,
image to image and video, routing and settings; every failure a ProviderError that says what
happened, and nothing that hangs."""

import base64
import io
import time

import av
import pytest

from studio.providers.base import Cancelled, ProviderError
from studio.providers.huggingface import IMAGE_MODELS, VIDEO_MODELS, HuggingFaceProvider
from tests.fakes.servers import (
    BOMB,
    DROP,
    EMPTY,
    GARBAGE,
    HANG,
    HF_TOKEN,
    TRUNCATED,
    closed_port_url,
    http_error,
    other_size,
    png_image,
)
from tests.studio.remote_providers.support import (
    COGVIDEO,
    FLUX,
    SDXL,
    TIMEOUT,
    Reports,
    cancel_at,
    image_request,
    png_size,
    video_request,
)


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
