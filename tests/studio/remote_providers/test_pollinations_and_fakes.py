"""Pollinations over real HTTP (the requests code) against its local fake, the fakes refusing
what the real services would, and the instant test provider."""

import io
import time

import av
import pytest
import requests

from studio.providers.base import Cancelled, ProviderError
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
    closed_port_url,
    http_error,
    wrong_content_type,
)
from tests.studio.remote_providers.support import (
    COGVIDEO,
    FLUX,
    TIMEOUT,
    Reports,
    cancel_at,
    image_request,
    png_size,
    video_request,
)


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
