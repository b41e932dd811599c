"""Bad query parameters, bad credentials (expired, tampered, foreign JWTs) and other errors,
all in the error format."""

import base64
import json
import uuid
from collections.abc import Callable
from datetime import timedelta

import jwt
import pytest
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from tests.core.bad_input.support import (
    AUTHENTICATED,
    HEALTH,
    LOGIN,
    LOGOUT,
    MALFORMED,
    NOT_OUR_KEY,
    OPERATIONS,
    PROFILE_GET,
    REFRESH,
    TOKENS_ADD,
    TOKENS_GET,
    Endpoint,
    assert_error,
    assert_invalid,
    encode,
    ids,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


BAD_QUERIES = {
    "page=abc": "page",
    "page=-1": "page",
    "page=0": "page",
    "page=1.5": "page",
    "page=99999999999999999999": "page",
    "page=" + "9" * 5000: "page",
    "page=%00": "page",
    "limit=1000": "limit",
    "limit=101": "limit",
    "limit=0": "limit",
    "limit=-5": "limit",
    "limit=abc": "limit",
    "kind=nonsense": "kind",
    "kind=%00": "kind",
    "kind=" + "x" * 5000: "kind",
}


@pytest.mark.parametrize("query", list(BAD_QUERIES), ids=lambda q: q[:40])
def test_a_bad_query_parameter_on_the_ledger_is_400_naming_it(send, query):
    assert_invalid(send(TOKENS_GET, query=query), BAD_QUERIES[query])


@pytest.mark.parametrize("endpoint", [HEALTH, OPERATIONS, PROFILE_GET], ids=ids)
def test_reads_ignore_unknown_query_parameters_and_bodies(send, endpoint):
    response = send(
        endpoint, MALFORMED["nested lists"], "text/plain", query="page=abc&x=%00&" + "y" * 4000
    )
    assert response.status_code == 200, response.content[:300]
    assert "code" not in response.json()


def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _expired(token_class, user) -> str:
    token = token_class.for_user(user)
    token.set_exp(from_time=timezone.now() - timedelta(hours=2), lifetime=timedelta(hours=1))
    return str(token)


def _signed_elsewhere(token_class, user) -> str:
    payload = dict(token_class.for_user(user).payload)
    return jwt.encode(payload, NOT_OUR_KEY, algorithm="HS256")


def _payload_swapped(token_class, user) -> str:
    # Our signature over one user's claims, with the claims edited to another user's id.
    header, payload, signature = str(token_class.for_user(user)).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["user_id"] = str(UserFactory().pk)
    return f"{header}.{_b64(claims)}.{signature}"


def _unsigned(token_class, user) -> str:
    claims = dict(token_class.for_user(user).payload)
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def _deleted_user(token_class, user) -> str:
    # Accounts with a ledger cannot be deleted (PROTECT); a user without one can.
    gone = User.objects.create_user(email=f"gone-{uuid.uuid4().hex}@example.com", password="x")
    token = str(token_class.for_user(gone))
    gone.delete()
    return token


def _inactive_user(token_class, user) -> str:
    return str(token_class.for_user(UserFactory(is_active=False)))


def _claims(**claims) -> Callable:
    def make(token_class, user) -> str:
        token = token_class()
        for name, value in claims.items():
            token[name] = value
        return str(token)

    return make


BAD_AUTHORIZATION: dict[str, Callable] = {
    "no header": lambda user: None,
    "garbage": lambda user: "Bearer garbage",
    "empty bearer": lambda user: "Bearer ",
    "three parts": lambda user: f"Bearer {AccessToken.for_user(user)} extra",
    "other scheme": lambda user: "Basic dXNlcjpwYXNzd29yZA==",
    "token without scheme": lambda user: str(AccessToken.for_user(user)),
    "latin-1 junk": lambda user: "Bearer \xe9\xe9\xe9",
    "100 kB token": lambda user: "Bearer " + "a" * 100_000,
    "expired": lambda user: f"Bearer {_expired(AccessToken, user)}",
    "signed with another key": lambda user: f"Bearer {_signed_elsewhere(AccessToken, user)}",
    "claims edited": lambda user: f"Bearer {_payload_swapped(AccessToken, user)}",
    "alg none": lambda user: f"Bearer {_unsigned(AccessToken, user)}",
    "deleted user": lambda user: f"Bearer {_deleted_user(AccessToken, user)}",
    "inactive user": lambda user: f"Bearer {_inactive_user(AccessToken, user)}",
    "refresh token as access": lambda user: f"Bearer {RefreshToken.for_user(user)}",
    "no user claim": lambda user: f"Bearer {_claims()(AccessToken, user)}",
    "user id not a uuid": lambda user: f"Bearer {_claims(user_id='1 OR 1=1')(AccessToken, user)}",
}


@pytest.mark.parametrize("endpoint", AUTHENTICATED, ids=ids)
@pytest.mark.parametrize("variant", list(BAD_AUTHORIZATION))
def test_bad_credentials_are_401_in_the_format(send, user, endpoint, variant):
    authorization = BAD_AUTHORIZATION[variant](user)
    response = send(endpoint, encode(endpoint.body), authorization=authorization)
    assert_error(response, 401, "UNAUTHORIZED")
    assert response.has_header("WWW-Authenticate")


@pytest.mark.parametrize("variant", ["garbage", "expired", "signed with another key"])
def test_public_price_list_ignores_a_bad_token_it_was_sent(send, user, variant):
    # Like health: a public endpoint does not authenticate, so a stale token is no error.
    response = send(OPERATIONS, authorization=BAD_AUTHORIZATION[variant](user))
    assert response.status_code == 200, response.content[:300]
    assert {"operation", "cost"} <= set(response.json()["operations"][0])


def test_health_ignores_a_bad_token(send, user):
    response = send(HEALTH, authorization=BAD_AUTHORIZATION["expired"](user))
    assert response.status_code == 200, response.content[:300]


def test_a_user_who_is_not_staff_cannot_add_tokens(send, user):
    response = send(
        TOKENS_ADD,
        encode({**TOKENS_ADD.body, "user": user.email}),
        authorization=f"Bearer {AccessToken.for_user(user)}",
    )
    assert_error(response, 403, "FORBIDDEN")


def _blacklisted(token_class, user) -> str:
    token = token_class.for_user(user)
    token.blacklist()
    return str(token)


BAD_REFRESH: dict[str, Callable] = {
    "garbage": lambda user: "garbage",
    "access token": lambda user: str(AccessToken.for_user(user)),
    "expired": lambda user: _expired(RefreshToken, user),
    "signed with another key": lambda user: _signed_elsewhere(RefreshToken, user),
    "claims edited": lambda user: _payload_swapped(RefreshToken, user),
    "alg none": lambda user: _unsigned(RefreshToken, user),
}


# Revoking these is harmless (logout answers 200); refreshing them must fail.
BAD_FOR_REFRESH_ONLY: dict[str, Callable] = {
    "blacklisted": lambda user: _blacklisted(RefreshToken, user),
    "deleted user": lambda user: _deleted_user(RefreshToken, user),
    "inactive user": lambda user: _inactive_user(RefreshToken, user),
}


@pytest.mark.parametrize("variant", list(BAD_REFRESH) + list(BAD_FOR_REFRESH_ONLY))
def test_refreshing_with_a_bad_refresh_token_is_401(send, user, variant):
    token = {**BAD_REFRESH, **BAD_FOR_REFRESH_ONLY}[variant](user)
    assert_error(send(REFRESH, encode({"refresh": token})), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("variant", list(BAD_REFRESH))
def test_logging_out_with_a_bad_refresh_token_is_401(send, user, variant):
    token = BAD_REFRESH[variant](user)
    assert_error(send(LOGOUT, encode({"refresh": token})), 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "auth/login"),
        ("GET", "auth/register"),
        ("PATCH", "users/profile"),
        ("POST", "health"),
        ("DELETE", "tokens"),
    ],
)
def test_a_wrong_method_is_405_in_the_format(send, method, path):
    endpoint = Endpoint(method, path, "user", {})
    assert_error(send(endpoint, b"{}"), 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize("path", ["nope", "auth/login/", "tokens/operations/x", "users/%00"])
def test_an_unknown_api_path_is_404_in_the_format(send, path):
    assert_error(send(Endpoint("GET", path, "anon", {})), 404, "NOT_FOUND")


def test_the_rate_limit_answer_is_in_the_format_too(send, settings):
    settings.RATELIMIT_ENABLE = True
    settings.AUTH_RATE_LIMIT = "3/m"
    for _ in range(3):
        assert_error(send(LOGIN, MALFORMED["truncated"]), 400, "INVALID_REQUEST")
    response = send(LOGIN, MALFORMED["truncated"])
    body = assert_error(response, 429, "RATE_LIMIT_EXCEEDED")
    assert body["details"]["limit"] == 3
    assert body["details"]["window"] == "60 seconds"
    assert 1 <= body["details"]["retryAfter"] <= 60
    assert int(response["Retry-After"]) == body["details"]["retryAfter"]
    assert response["X-RateLimit-Remaining"] == "0"
