"""Fixtures of the admin tests: a staff member and their browser session."""

import pytest

from tests.factories import staff_user


@pytest.fixture
def staff():
    return staff_user(email="support@example.com")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client
