"""Fixtures of the webhook tests: receivers, users with webhooks, the worker.

Tests that deliver to local receivers turn WEBHOOKS_ALLOW_PRIVATE on, the guard tests turn it
off."""

import dramatiq
import pytest

from tests.studio.webhooks.support import QUEUE, receiver  # noqa: F401 (a fixture)


@pytest.fixture
def allow_private(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True


@pytest.fixture
def guard_on(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False


@pytest.fixture
def worker(transactional_db):
    """A worker on the configured broker (Redis when REDIS_URL is set), on the webhooks queue."""
    broker = dramatiq.get_broker()
    broker.flush(QUEUE)  # nothing left over from an earlier run
    worker = dramatiq.Worker(broker, queues={QUEUE}, worker_threads=1, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()
    # The worker registered a middleware that would start consumers for queues declared
    # later; drop it with the worker.
    broker.middleware[:] = [
        m for m in broker.middleware if getattr(m, "worker", None) is not worker
    ]
    broker.flush(QUEUE)
