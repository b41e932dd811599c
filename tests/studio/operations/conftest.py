"""Fixtures of the operation tests: local providers, files on a temporary media root."""

import pytest


@pytest.fixture(autouse=True)
def _local_operations(settings, instant_studio):
    settings.OPERATION_PROVIDERS = {
        "background_removal": ["local"],
        "generative_upscale": ["local"],
    }
