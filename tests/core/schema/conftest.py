"""Fixtures of the schema tests."""

import json

import pytest
from django.test import Client

from tests.core.schema.support import SCHEMA_URL


@pytest.fixture(scope="module")
def schema() -> dict:
    # Module scope: the schema is the same for every test here; generating it is the slow part.
    response = Client().get(SCHEMA_URL, {"format": "json"})
    assert response.status_code == 200, response.content[:300]
    return json.loads(response.content)
