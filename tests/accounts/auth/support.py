"""Requests and checks shared by the auth endpoint tests."""

import re

from tests.factories import PASSWORD

REGISTER = "/api/v1/auth/register"


LOGIN = "/api/v1/auth/login"


DEMO = "/api/v1/auth/demo"


REFRESH = "/api/v1/auth/refresh"


LOGOUT = "/api/v1/auth/logout"


PASSWORD_URL = "/api/v1/auth/password"


PROFILE = "/api/v1/users/profile"


SEED_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


NEW_PASSWORD = "another-Battery-77"


def assert_error(response, status: int, code: str, error: str | None = None) -> dict:
    """The standard error format, with this status and code; returns the body."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "code", "details", "timestamp", "requestId"}
    assert body["code"] == code
    if error is not None:
        assert body["error"] == error
    assert SEED_TIME.match(body["timestamp"])
    assert body["requestId"] == response["X-Request-ID"]
    return body


def register(api, email="new@example.com", password=PASSWORD, name="Jane Doe"):
    return api.post(REGISTER, {"email": email, "password": password, "name": name}, format="json")


def assert_auth_shape(body: dict) -> None:
    assert set(body) == {"token", "refresh", "user"}
    assert body["token"] and body["refresh"] and body["token"] != body["refresh"]
    assert set(body["user"]) == {"id", "email", "name", "credits", "createdAt", "isDemo"}
    assert SEED_TIME.match(body["user"]["createdAt"])


def bearer(api, token: str):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api
