"""Fixtures of the studio tests: a studio on local files with the instant provider, a second
user, and worker processes for the end-to-end tests (`manage.py rundramatiq` with production
settings, pointed at the test's database, broker namespace and bucket)."""

import time

import pytest
from rest_framework.test import APIClient

from studio.models import Status
from tests.conftest import login
from tests.factories import UserFactory
from tests.fakes.processes import WorkerProcess, production_env

FINISHED = {Status.COMPLETED, Status.FAILED, Status.CANCELLED}


@pytest.fixture
def stranger() -> APIClient:
    """A client signed in as another user."""
    return login(APIClient(), UserFactory())


@pytest.fixture
def worker_env(s3, s3_storage, settings):
    """Production settings for a worker process, pointed at this test's database, broker
    namespace and bucket."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.RATELIMIT_ENABLE = False
    return production_env(s3)


@pytest.fixture
def start_worker():
    started: list[WorkerProcess] = []

    def start(env: dict[str, str]) -> WorkerProcess:
        worker = WorkerProcess(env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_until_finished(api, generation_id: str, timeout: float = 120) -> dict:
    """Poll the status endpoint, as a client would, until the job is finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/api/v1/studio/generation/{generation_id}").json()
        if body["status"] in FINISHED:
            return body
        time.sleep(0.2)  # a client polling a job in another process, not test synchronisation
    raise AssertionError(f"{generation_id} not finished after {timeout}s: {body}")
