"""Fixtures of the studio tests: a studio on local files with the instant provider, a second
user, and worker processes for the end-to-end tests (`manage.py rundramatiq` with production
settings, pointed at the test's database, broker namespace and bucket)."""

import os
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.db import connection
from rest_framework.test import APIClient

from studio.models import Status
from tests.conftest import login
from tests.factories import UserFactory
from tests.fakes.processes import Program

FINISHED = {Status.COMPLETED, Status.FAILED, Status.CANCELLED}


@pytest.fixture
def instant_studio(settings, media_storage):
    """Files on a temporary media root; generations made by the instant provider."""
    settings.RATELIMIT_ENABLE = False
    settings.IMAGE_PROVIDERS = ["instant"]
    settings.VIDEO_PROVIDERS = ["instant"]


@pytest.fixture
def stranger() -> APIClient:
    """A client signed in as another user."""
    return login(APIClient(), UserFactory())


class WorkerProcess(Program):
    """`manage.py rundramatiq`."""

    def __init__(self, env: dict[str, str]):
        command = [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "2"]
        super().__init__(command, env, ready_when="ready for action")
        self.wait_until_up(90)


@pytest.fixture
def worker_env(s3, s3_storage, settings):
    """Production settings for a worker process, pointed at this test's database, broker
    namespace and bucket."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "S3_", "IMAGE_", "VIDEO_", "HF_", "POLLINATIONS_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=(
            f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        REDIS_URL=django_settings.REDIS_URL,
        DRAMATIQ_NAMESPACE=os.environ["DRAMATIQ_NAMESPACE"],
        CACHE_KEY_PREFIX=django_settings.CACHES["default"].get("KEY_PREFIX", "craftframe"),
        SECRET_KEY=django_settings.SECRET_KEY,
        S3_BUCKET=s3.bucket,
        S3_ENDPOINT_URL=s3.endpoint_url,
        S3_ACCESS_KEY_ID=s3.access_key,
        S3_SECRET_ACCESS_KEY=s3.secret_key,
        EMBEDDED_WORKER="false",
        WEBHOOKS_ALLOW_PRIVATE="true",
        LOG_LEVEL="INFO",
    )
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.RATELIMIT_ENABLE = False
    return env


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
