"""Fixtures of the pipeline tests: a studio on local files with the instant provider."""

import pytest


@pytest.fixture(autouse=True)
def _local_studio(settings, instant_studio):
    settings.OPERATION_PROVIDERS = {
        "background_removal": ["local"],
        "generative_upscale": ["local"],
    }


# The worker processes of the end-to-end tests, as the studio's tests start them.
from tests.studio.conftest import start_worker, worker_env  # noqa: E402, F401
