"""Fixtures of the lifecycle tests. Only what lies outside the project is faked: the Hugging
Face API (tests.fakes.servers) and an S3 endpoint where nothing listens."""

import dramatiq
import pytest

from tests.fakes.servers import (
    HF_TOKEN,
)
from tests.studio.lifecycle.support import QUEUES, LateHuggingFace, dismiss, drain, empty_queues


@pytest.fixture(autouse=True)
def _studio(settings, media_storage):
    settings.RATELIMIT_ENABLE = False  # rate limits have their own tests
    settings.IMAGE_PROVIDERS = ["instant"]
    settings.VIDEO_PROVIDERS = ["instant"]


@pytest.fixture(autouse=True)
def broker():
    """The configured broker, its generation queues empty before and after each test."""
    with empty_queues(QUEUES) as broker:
        yield broker


@pytest.fixture
def huggingface(settings, fake_huggingface):
    settings.HF_TOKEN = HF_TOKEN
    settings.HF_BASE_URL = fake_huggingface.url
    settings.HF_TIMEOUT = 30
    return fake_huggingface


@pytest.fixture
def late_huggingface(settings):
    with LateHuggingFace() as server:
        settings.HF_TOKEN = HF_TOKEN
        settings.HF_BASE_URL = server.url
        settings.HF_TIMEOUT = 30
        yield server


@pytest.fixture
def run_worker(broker):
    """Consume a queue with an in-process Dramatiq worker until it is empty."""
    started: list[dramatiq.Worker] = []

    def run(queue: str) -> None:
        started.append(drain(broker, queue))

    yield run
    for worker in started:
        dismiss(broker, worker)
