"""Requests and checks shared by the auth endpoint tests."""

from tests.conftest import SEED_TIME
from tests.factories import PASSWORD

REGISTER = "/api/v1/auth/register"


LOGIN = "/api/v1/auth/login"


DEMO = "/api/v1/auth/demo"


REFRESH = "/api/v1/auth/refresh"


LOGOUT = "/api/v1/auth/logout"


PASSWORD_URL = "/api/v1/auth/password"


PROFILE = "/api/v1/users/profile"


NEW_PASSWORD = "another-Battery-77"


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
