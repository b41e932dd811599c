"""Fixtures of the bad-input tests: raw requests as the user an endpoint needs, with the
database checked unchanged afterwards."""

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from tests.core.bad_input.support import _AS_ENDPOINT_USER, JSON, Endpoint, database_state
from tests.factories import UserFactory, staff_user


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    # Hundreds of requests from one client; the one test about 429 turns limits back on.
    settings.RATELIMIT_ENABLE = False
    settings.WEBHOOKS_ALLOW_PRIVATE = True  # the base webhook body is a loopback receiver


@pytest.fixture
def send(api):
    """`send(endpoint, data, ...)`: a raw request as the user the endpoint needs.

    Asserts the database is unchanged afterwards unless `writes=True`.
    """
    # A crash is reported as the 500 a client would get, not raised into the test.
    api.raise_request_exception = False
    acting: dict[str, User] = {}

    def _send(
        endpoint: Endpoint,
        data: bytes = b"",
        content_type: str | None = JSON,
        authorization=_AS_ENDPOINT_USER,
        query: str = "",
        writes: bool = False,
    ):
        if authorization is _AS_ENDPOINT_USER:
            authorization = None
            if endpoint.auth != "anon":
                if endpoint.auth not in acting:
                    acting[endpoint.auth] = (
                        staff_user() if endpoint.auth == "staff" else UserFactory()
                    )
                authorization = f"Bearer {AccessToken.for_user(acting[endpoint.auth])}"
        headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
        before = database_state(acting.values())
        response = api.generic(
            endpoint.method,
            endpoint.url + (f"?{query}" if query else ""),
            data=data,
            content_type=content_type,
            **headers,
        )
        if not writes:
            assert database_state(acting.values()) == before, "a rejected request wrote data"
        return response

    return _send
