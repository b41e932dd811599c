"""Fixtures of the remote provider tests: providers pointed at local fakes."""

import pytest

from studio.providers.huggingface import HuggingFaceProvider
from studio.providers.pollinations import PollinationsProvider
from tests.fakes.huggingface import FakeHuggingFace
from tests.fakes.servers import HF_TOKEN, FakePollinations
from tests.studio.remote_providers.support import TIMEOUT


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
