"""Generative upscale on Hugging Face, operations it does not do, cancelling, the chain
falling back to the local provider, and the fake refusing what the real API would."""

import base64

import numpy as np
import pytest
import requests

from studio.engine import Attempt, run_chain
from studio.providers.base import Cancelled, OperationRequest, ProviderError
from tests.fakes.servers import (
    GARBAGE,
    HF_TOKEN,
    NO_SEGMENTS,
    http_error,
    other_size,
    png_image,
)
from tests.studio.hf_operations.support import (
    SEGMENTER,
    SIDE,
    TIMEOUT,
    UPSCALER,
    Reports,
    cancel_at,
    circle_png,
    decoded,
    removal,
    upscale,
)


@pytest.mark.parametrize("scale", [2, 4])
def test_generative_upscale_is_exactly_the_source_size_times_the_scale(hf, scale):
    reports = Reports()

    output = hf.operate(upscale(png_image(40, 30, seed=3), scale=scale), reports)

    assert output.content_type == "image/png"
    assert (output.width, output.height) == (40 * scale, 30 * scale)
    assert decoded(output.data).size == (40 * scale, 30 * scale)
    assert output.extra == {
        "method": "generative",
        "model_id": UPSCALER,
        "hf_provider": "hf-inference",
        "scale": scale,
    }
    assert reports == [10, 90, 100]


def test_generative_upscale_sends_the_picture_prompt_and_target_size_to_the_upscaler(hf, hf_server):
    source = png_image(40, 30, seed=3)

    hf.operate(upscale(source, scale=2), Reports())

    [sent] = hf_server.requests
    assert sent.path == f"/models/{UPSCALER}"
    assert sent.headers["authorization"] == f"Bearer {HF_TOKEN}"
    assert np.array_equal(
        np.asarray(decoded(base64.b64decode(sent.json["inputs"]))), np.asarray(decoded(source))
    )
    assert sent.json["parameters"] == {
        "prompt": "high quality, sharp details",
        "target_size": {"width": 80, "height": 60},
    }


def test_generative_upscale_sends_the_users_prompt(hf, hf_server):
    hf.operate(upscale(png_image(40, 30), scale=4, prompt="crisp brick texture"), Reports())

    assert hf_server.requests[0].json["parameters"] == {
        "prompt": "crisp brick texture",
        "target_size": {"width": 160, "height": 120},
    }


def test_generative_upscale_answered_at_another_size_is_fitted(hf, hf_server):
    hf_server.fail_next(other_size(64, 64))

    output = hf.operate(upscale(png_image(40, 30), scale=2), Reports())

    assert decoded(output.data).size == (80, 60)
    assert output.extra["provider_size"] == "64x64"


@pytest.mark.parametrize("scale", [3, 1, True, "2"])
def test_generative_upscale_refuses_other_scales_without_a_request(hf, hf_server, scale):
    with pytest.raises(ProviderError, match="huggingface: scale must be 2 or 4"):
        hf.operate(upscale(png_image(40, 30), scale=scale), Reports())

    assert hf_server.requests == []


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (http_error(503, {"error": "Model is loading"}), "huggingface: 503 Service Unavailable"),
        (GARBAGE, "huggingface: response is not a valid image"),
    ],
)
def test_generative_upscale_failures_are_provider_errors(hf, hf_server, fault, expected):
    hf_server.fail_next(fault)

    with pytest.raises(ProviderError) as caught:
        hf.operate(upscale(png_image(40, 30), scale=2), Reports())

    assert str(caught.value).startswith(expected)


@pytest.mark.parametrize(
    "operation", ["vectorization", "clarity_upscale", "style_creation", "teleportation"]
)
def test_other_operations_are_provider_errors_without_a_request(hf, hf_server, operation):
    request = OperationRequest(operation, (png_image(32, 32),), {"scale": 2})

    with pytest.raises(ProviderError, match=rf"^huggingface: no operation '{operation}'$"):
        hf.operate(request, Reports())

    assert hf_server.requests == []


@pytest.mark.parametrize(
    "request_",
    [removal(), upscale(png_image(40, 30), scale=2)],
    ids=["background_removal", "generative_upscale"],
)
@pytest.mark.parametrize(("percent", "sent"), [(10, 0), (90, 1), (100, 1)])
def test_cancelled_from_progress_propagates(hf, hf_server, request_, percent, sent):
    with pytest.raises(Cancelled):
        hf.operate(request_, cancel_at(percent))

    assert len(hf_server.requests) == sent


def cut_out_through_the_chain(attempts: list[Attempt]):
    """Background removal as the worker runs it: Hugging Face first, then the local cut-out."""
    return run_chain(
        ["huggingface", "local"],
        lambda provider, report: provider.operate(removal(), report),
        Reports(),
        attempts,
    )


def test_chain_keeps_the_hugging_face_cutout_when_it_works(hf_configured):
    attempts: list[Attempt] = []

    produced = cut_out_through_the_chain(attempts)

    assert produced.provider == "huggingface"
    assert produced.output.extra["method"] == "segmentation"
    assert [(a.provider, a.error) for a in attempts] == [("huggingface", "")]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (http_error(503, {"error": "Model is loading"}), "huggingface: 503 Service Unavailable"),
        (NO_SEGMENTS, "huggingface: the segmentation found no subject"),
    ],
)
def test_chain_falls_back_to_the_local_cutout_when_hugging_face_fails(hf_configured, fault, error):
    hf_configured.fail_next(fault)
    attempts: list[Attempt] = []

    produced = cut_out_through_the_chain(attempts)

    assert produced.provider == "local"
    assert produced.output.extra["method"] == "grabcut"
    assert decoded(produced.output.data).size == (SIDE, SIDE)
    assert [a.provider for a in attempts] == ["huggingface", "local"]
    assert attempts[0].error.startswith(error)
    assert attempts[1].error == ""
    assert len(hf_configured.requests) == 1


def test_fake_segmentation_takes_the_json_form_the_client_sends_with_parameters(hf):
    client, model = hf.client_for(SEGMENTER)

    segments = client.image_segmentation(circle_png(), model=model, threshold=0.5)

    assert [segment.label for segment in segments] == ["background", "foreground"]
    assert all(
        segment.mask.mode == "L" and segment.mask.size == (SIDE, SIDE) for segment in segments
    )


def test_fake_segmentation_takes_unlabelled_bytes_from_a_plain_client(hf, hf_server):
    client, model = hf.client_for(SEGMENTER)  # no Content-Type header set

    segments = client.image_segmentation(circle_png(), model=model)

    assert "content-type" not in hf_server.requests[0].headers
    assert len(segments) == 2


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param({"Content-Type": "text/plain"}, circle_png(), id="text-content-type"),
        pytest.param({"Content-Type": "image/png"}, b"not an image", id="not-an-image"),
        pytest.param(
            {"Content-Type": "application/json"},
            b'{"inputs": "bm90IGFuIGltYWdl"}',
            id="json-inputs-not-an-image",
        ),
        pytest.param(
            {"Content-Type": "application/json"},
            b'{"inputs": "%s", "parameters": {"subtask": "everything"}}'
            % base64.b64encode(circle_png(32)).decode().encode(),
            id="json-bad-subtask",
        ),
        pytest.param(
            {"Content-Type": "application/json"},
            b'{"inputs": "%s", "parameters": {"prompt": "cat"}}'
            % base64.b64encode(circle_png(32)).decode().encode(),
            id="json-unknown-parameter",
        ),
    ],
)
def test_fake_segmentation_refuses_bad_requests(hf_server, headers, body):
    response = requests.post(
        f"{hf_server.url}/models/{SEGMENTER}",
        data=body,
        headers={"Authorization": f"Bearer {HF_TOKEN}", **headers},
        timeout=TIMEOUT,
    )

    assert response.status_code == 400, response.text
    assert "error" in response.json()
