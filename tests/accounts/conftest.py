"""Fixtures of the tests of the user's own data (export, deletion): a studio on local media or
SeaweedFS with the instant provider, and in-process Dramatiq workers that run a queue until
it is empty and then stop, so jobs go through their real actors and work submitted later
stays queued (as the deletion tests need it)."""

import pytest

from accounts.tasks import build_export
from studio.tasks import deliver_webhook, generate_image, generate_video
from tests.studio.lifecycle.support import dismiss, drain, empty_queues

QUEUES = (
    build_export.queue_name,
    generate_image.queue_name,
    generate_video.queue_name,
    deliver_webhook.queue_name,
)


@pytest.fixture
def broker():
    """The configured broker, the queues these tests use empty before and after each test."""
    with empty_queues(QUEUES) as broker:
        yield broker


@pytest.fixture
def studio(instant_studio, settings, broker):
    """Jobs made by the instant provider, files on a temporary media root."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True  # the webhooks here point at a closed local port


@pytest.fixture(params=["media", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request, studio) -> str:
    """Both storage backends: local media (FileSystemStorage) and S3 (SeaweedFS)."""
    if request.param == "s3":
        request.getfixturevalue("s3_storage")  # replaces the media root of `studio`
    return request.param


@pytest.fixture
def media(studio, media_storage):
    """The embedded mode's storage: files under a temporary media root."""
    return media_storage


@pytest.fixture
def run_worker(broker):
    """`run_worker(queue)`: an in-process worker consumes the queue until it is empty, then
    is stopped (unlike the lifecycle tests' one, which keeps consuming until teardown)."""

    def run(queue: str) -> None:
        dismiss(broker, drain(broker, queue))

    return run
