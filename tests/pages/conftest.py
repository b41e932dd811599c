"""Fixtures of the page tests: Django's test client signed in as `user` (a session, as a
browser has), beside `user_api` (the same user on the API)."""

import pytest


@pytest.fixture
def page(client, user):
    client.force_login(user)
    return client
