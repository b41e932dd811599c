"""Fixtures of the storage tests: a folder per test, recorded backoff, an unreachable S3."""

import uuid

import pytest
from botocore.config import Config

from studio import storage
from tests.fakes.seaweed import free_ports


@pytest.fixture
def prefix() -> str:
    """A generation's folder no other test uses."""
    return f"users/{uuid.uuid4().hex[:8]}/generations/1/"


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The backoff delays storage asked for, instead of waiting them out."""
    delays: list[float] = []
    monkeypatch.setattr(storage, "_sleep", delays.append)
    return delays


@pytest.fixture
def s3_settings_unreachable() -> dict:
    """S3 settings pointing at a port nothing listens on; botocore's own retries are off so
    the attempts counted are ours."""
    (port,) = free_ports(1)
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "craftframe-test",
            "endpoint_url": f"http://127.0.0.1:{port}",
            "access_key": "unused",
            "secret_key": "unused",
            "region_name": "us-east-1",
            "file_overwrite": False,
            "client_config": Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"total_max_attempts": 1},
                connect_timeout=1,
            ),
        },
    }
