"""Fixtures of the Hugging Face operation tests: the provider pointed at the local fake."""

import pytest

from studio.providers.huggingface import HuggingFaceProvider
from tests.fakes.huggingface import FakeHuggingFace
from tests.fakes.servers import HF_TOKEN
from tests.studio.hf_operations.support import SEGMENTER, TIMEOUT, UPSCALER


@pytest.fixture(autouse=True)
def _operation_models(settings):
    settings.HF_SEGMENTATION_MODEL = SEGMENTER
    settings.HF_UPSCALE_MODEL = UPSCALER


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
def hf_configured(settings, hf_server):
    """Settings that make get_provider("huggingface") talk to the fake."""
    settings.HF_TOKEN = HF_TOKEN
    settings.HF_PROVIDER = "hf-inference"
    settings.HF_BASE_URL = hf_server.url
    settings.HF_TIMEOUT = TIMEOUT
    return hf_server
