"""The error format (seed: "Error Handling") on every failure under /api/, request ids, and
how bad tokens are answered."""

import base64
import json
import re
from datetime import timedelta

import jwt
import pytest
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.test import APIClient
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from tests.conftest import assert_error
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PROFILE = "/api/v1/users/profile"
GENERATED_ID = re.compile(r"^req_[0-9a-f]{16}$")


# A URLconf with views that fail unexpectedly, used through @pytest.mark.urls(__name__).
class BoomApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def get(self, request):
        raise RuntimeError("kaboom: secret internals")


def boom_view(request):
    raise RuntimeError("kaboom: secret internals")


urlpatterns = [
    path("api/v1/test/boom-drf", BoomApi.as_view()),
    path("api/v1/test/boom-django", boom_view),
    path("", include("config.urls")),
]
handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def b64(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# --- Request ids ----------------------------------------------------------------------------


@pytest.mark.parametrize("incoming", ["abc-123_x.y:z", "0" * 128, "req_from-the-proxy"])
def test_valid_incoming_request_id_is_echoed(api, incoming):
    response = api.get("/api/v1/health", HTTP_X_REQUEST_ID=incoming)

    assert response["X-Request-ID"] == incoming


def test_missing_request_id_is_generated_and_differs_per_request(api):
    first = api.get("/api/v1/health")["X-Request-ID"]
    second = api.get("/api/v1/health")["X-Request-ID"]

    assert GENERATED_ID.match(first)
    assert GENERATED_ID.match(second)
    assert first != second


@pytest.mark.parametrize("incoming", ["has spaces in it", "0" * 129, "semi;colon", "ünïcode"])
def test_invalid_incoming_request_id_is_replaced(api, incoming):
    response = api.get("/api/v1/health", HTTP_X_REQUEST_ID=incoming)

    assert GENERATED_ID.match(response["X-Request-ID"])


@pytest.mark.parametrize("incoming", [None, "trace-42"])
def test_error_body_request_id_equals_the_header(api, incoming):
    headers = {"HTTP_X_REQUEST_ID": incoming} if incoming else {}

    response = api.get(PROFILE, **headers)

    body = assert_error(response, 401, "UNAUTHORIZED")
    assert body["requestId"] == (incoming or response["X-Request-ID"])


def test_pages_outside_the_api_carry_a_request_id_too(api):
    response = api.get("/admin/login/")

    assert response.status_code == 200
    assert GENERATED_ID.match(response["X-Request-ID"])


# --- Routing errors -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_unknown_api_path_returns_404_in_the_error_format(api, method):
    response = getattr(api, method)("/api/v1/nope", HTTP_X_REQUEST_ID="trace-404")

    body = assert_error(response, 404, "NOT_FOUND", "Resource not found")
    assert body["requestId"] == "trace-404"


def test_unknown_page_outside_the_api_is_not_json(api):
    response = api.get("/nope")

    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_wrong_method_returns_405_in_the_error_format(api):
    response = api.get("/api/v1/auth/login")

    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response["Allow"]


def test_wrong_method_on_an_authenticated_endpoint_returns_405(user_api):
    response = user_api.patch(PROFILE, {"name": "Ann"}, format="json")  # GET, PUT and DELETE

    assert_error(response, 405, "METHOD_NOT_ALLOWED")


def test_malformed_json_returns_400(api):
    response = api.post("/api/v1/auth/login", data="{not json", content_type="application/json")

    assert_error(response, 400, "INVALID_REQUEST")


def test_form_encoded_body_returns_415(api):
    response = api.post(
        "/api/v1/auth/login",
        data="email=a%40example.com&password=x",
        content_type="application/x-www-form-urlencoded",
    )

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


# --- Unexpected exceptions ------------------------------------------------------------------


@pytest.mark.urls(__name__)
def test_unexpected_exception_in_an_api_view_returns_500_internal_error():
    client = APIClient(raise_request_exception=False)

    response = client.get("/api/v1/test/boom-drf", HTTP_X_REQUEST_ID="trace-500")

    body = assert_error(response, 500, "INTERNAL_ERROR", "Internal server error")
    assert body["details"] == {}
    assert body["requestId"] == "trace-500"
    assert b"kaboom" not in response.content


@pytest.mark.urls(__name__)
def test_unexpected_exception_in_a_plain_django_view_under_the_api_returns_500_json():
    client = APIClient(raise_request_exception=False)

    response = client.get("/api/v1/test/boom-django")

    assert_error(response, 500, "INTERNAL_ERROR", "Internal server error")
    assert b"kaboom" not in response.content


def test_unexpected_exception_in_a_real_endpoint_returns_500(api, monkeypatch):
    from tokens import apis

    def broken(self, request):
        raise RuntimeError("kaboom: secret internals")

    monkeypatch.setattr(apis.OperationsApi, "get", broken)

    response = api.get("/api/v1/tokens/operations")

    assert_error(response, 500, "INTERNAL_ERROR")
    assert b"kaboom" not in response.content


# --- Bad tokens -----------------------------------------------------------------------------


def assert_unauthorized(response) -> dict:
    body = assert_error(response, 401, "UNAUTHORIZED")
    assert response["WWW-Authenticate"].startswith("Bearer")
    return body


def test_valid_token_is_accepted(user):
    # The control for the tests below: the same kind of token, untouched, works.
    assert bearer(str(AccessToken.for_user(user))).get(PROFILE).status_code == 200


def test_expired_token_returns_401(user):
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(minutes=1))

    response = bearer(str(token)).get(PROFILE)

    body = assert_unauthorized(response)
    assert body["error"] == "Token is invalid or expired"


def test_token_with_a_tampered_payload_returns_401(user):
    victim = UserFactory()
    header, payload, signature = str(AccessToken.for_user(user)).split(".")
    claims = unb64(payload)
    claims["user_id"] = str(victim.pk)

    response = bearer(f"{header}.{b64(claims)}.{signature}").get(PROFILE)

    assert_unauthorized(response)


def test_token_signed_with_another_key_returns_401(user):
    claims = unb64(str(AccessToken.for_user(user)).split(".")[1])
    forged = jwt.encode(claims, "not-our-signing-key-but-long-enough-0123456789", "HS256")

    assert_unauthorized(bearer(forged).get(PROFILE))


def test_unsigned_token_returns_401(user):
    claims = unb64(str(AccessToken.for_user(user)).split(".")[1])
    forged = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."

    assert_unauthorized(bearer(forged).get(PROFILE))


def test_token_for_a_deleted_user_returns_401():
    # Made without a token account: once one is opened the user is PROTECTed from deletion.
    doomed = User.objects.create_user(email="doomed@example.com", password=PASSWORD)
    token = str(AccessToken.for_user(doomed))
    doomed.delete()

    assert_unauthorized(bearer(token).get(PROFILE))


def test_token_for_an_inactive_user_returns_401(user):
    token = str(AccessToken.for_user(user))
    User.objects.filter(pk=user.pk).update(is_active=False)

    assert_unauthorized(bearer(token).get(PROFILE))


def test_refresh_token_is_not_accepted_as_an_access_token(user):
    assert_unauthorized(bearer(str(RefreshToken.for_user(user))).get(PROFILE))


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer a b", "Bearer garbage"])
def test_malformed_authorization_header_returns_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    assert_unauthorized(client.get(PROFILE))
