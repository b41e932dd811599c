"""Bad input on every endpoint: a 4xx in the error format, never a 500, and nothing written.

Bodies are sent as raw bytes (`client.generic`) so the tests control exactly what arrives:
broken JSON, wrong content types, lone surrogates, absurd nesting and sizes.
"""

import base64
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import jwt
import pytest
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from studio.models import Asset, Generation, Project, Style, Webhook
from tests.factories import PASSWORD, UserFactory, staff_user
from tokens.models import LedgerEntry, TokenAccount

pytestmark = pytest.mark.django_db

JSON = "application/json"
ERROR_KEYS = {"error", "code", "details", "timestamp", "requestId"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SURROGATE = "\ud800"  # a lone UTF-16 surrogate: legal as a JSON escape, not encodable as UTF-8
NOT_OUR_KEY = "an-attacker-key-that-is-long-enough-for-hs256-0123456789abcdef"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    auth: str  # "anon", "user" or "staff": who the request is sent as
    body: dict  # a well-formed body; each test breaks one part of it
    strings: tuple[str, ...] = ()
    integers: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    nullable: tuple[str, ...] = ()
    zero_ok: tuple[str, ...] = ()  # integer fields for which 0 is a valid value

    @property
    def url(self) -> str:
        return f"/api/v1/{self.path}"

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


REGISTER = Endpoint(
    "POST",
    "auth/register",
    "anon",
    {"email": "newcomer@example.com", "password": "a-Strong-pass-91", "name": "Newcomer"},
    strings=("email", "password", "name"),
    required=("email", "password"),
)
LOGIN = Endpoint(
    "POST",
    "auth/login",
    "anon",
    {"email": "someone@example.com", "password": "wrong-Pass-91"},
    strings=("email", "password"),
    required=("email", "password"),
)
REFRESH = Endpoint(
    "POST", "auth/refresh", "anon", {"refresh": "x"}, strings=("refresh",), required=("refresh",)
)
LOGOUT = Endpoint(
    "POST", "auth/logout", "anon", {"refresh": "x"}, strings=("refresh",), required=("refresh",)
)
PASSWORD_CHANGE = Endpoint(
    "PUT",
    "auth/password",
    "user",
    {"current_password": PASSWORD, "new_password": "another-Strong-93"},
    strings=("current_password", "new_password"),
    required=("current_password", "new_password"),
)
PROFILE_GET = Endpoint("GET", "users/profile", "user", {})
PROFILE_UPDATE = Endpoint(
    "PUT",
    "users/profile",
    "user",
    {"name": "Renamed", "email": "renamed@example.com"},
    strings=("name", "email"),
)
TOKENS_GET = Endpoint("GET", "tokens", "user", {})
TOKENS_ADD = Endpoint(
    "PUT",
    "tokens",
    "staff",
    {
        "user": "nobody@example.com",
        "amount": 10,
        "kind": "grant",
        "reason": "Bad input test",
        "idempotency_key": "bad-input-1",
    },
    strings=("user", "kind", "reason", "idempotency_key"),
    integers=("amount",),
    required=("user", "amount", "reason"),
)
ESTIMATE = Endpoint(
    "POST",
    "tokens/estimate",
    "user",
    {"operation": "image_generation", "model": "flux-pro", "quantity": 1},
    strings=("operation", "model"),
    integers=("quantity",),
    required=("operation",),
    nullable=("model",),
)
GENERATE_IMAGE = Endpoint(
    "POST",
    "studio/generate-image",
    "user",
    {
        "prompt": "A lighthouse at dawn",
        "model": "sdxl",
        "category": "anime",
        "size": "1024x1024",
        "steps": 30,
        "cfg_scale": 7.5,
        "style": "cinematic",
        "negative_prompt": "blurry",
        "num_images": 1,
        "seed": 42,
    },
    strings=("prompt", "model", "category", "size", "style", "negative_prompt"),
    integers=("steps", "num_images", "seed"),
    required=("prompt",),
    nullable=("seed",),
    zero_ok=("seed",),
)
GENERATE_VIDEO = Endpoint(
    "POST",
    "studio/generate-video",
    "user",
    {"prompt": "Waves at night", "model": "pika", "duration": 3, "fps": 8, "style": "cinematic"},
    strings=("prompt", "model", "style"),
    integers=("duration", "fps"),
    required=("prompt",),
)
WEBHOOK_CREATE = Endpoint(
    "POST",
    "webhooks",
    "user",
    {"url": "http://127.0.0.1:9/hooks", "events": ["generation.completed"]},
    strings=("url",),
    required=("url", "events"),
)
GENERATIONS = Endpoint("GET", "users/generations", "user", {})
GENERATION = Endpoint("GET", "studio/generation/img_0_0000000000000000", "user", {})
GENERATION_CANCEL = Endpoint("POST", "studio/generation/img_0_0000000000000000/cancel", "user", {})
WEBHOOKS = Endpoint("GET", "webhooks", "user", {})
DEMO = Endpoint("POST", "auth/demo", "anon", {})
OPERATIONS = Endpoint("GET", "tokens/operations", "anon", {})
HEALTH = Endpoint("GET", "health", "anon", {})
# Issue 4: operations, styles, assets and projects. The ids in the bodies name nothing: the
# body is checked before anything is looked up, so each broken field is still a 400.
SOURCE = "ast_000000000000000000000000"
VECTORIZE = Endpoint(
    "POST",
    "studio/vectorize",
    "user",
    {"source": SOURCE, "mode": "color", "detail": "medium", "project": None},
    strings=("source", "mode", "detail", "project"),
    required=("source",),
    nullable=("project",),
)
REMOVE_BACKGROUND = Endpoint(
    "POST",
    "studio/remove-background",
    "user",
    {"source": SOURCE},
    strings=("source",),
    required=("source",),
)
UPSCALE = Endpoint(
    "POST",
    "studio/upscale",
    "user",
    {"source": SOURCE, "scale": 2},
    strings=("source",),
    integers=("scale",),
    required=("source",),
)
GENERATIVE_UPSCALE = Endpoint(
    "POST",
    "studio/generative-upscale",
    "user",
    {"source": SOURCE, "scale": 4, "prompt": "crisp"},
    strings=("source", "prompt"),
    integers=("scale",),
    required=("source",),
)
STYLE_CREATE = Endpoint(
    "POST",
    "studio/styles",
    "user",
    {"name": "Dusk", "references": [SOURCE]},
    strings=("name",),
    required=("name", "references"),
)
GENERATE_VECTOR = Endpoint(
    "POST",
    "studio/generate-vector",
    "user",
    {"prompt": "A fox", "type": "vector_illustration", "mode": "binary", "seed": 3},
    strings=("prompt", "type", "mode"),
    integers=("seed", "steps"),
    required=("prompt",),
    nullable=("seed",),
    zero_ok=("seed",),
)
ASSETS_MOVE = Endpoint(
    "POST",
    "assets/move",
    "user",
    {"ids": [SOURCE], "project": None},
    strings=("project",),
    required=("ids", "project"),
    nullable=("project",),
)
ASSET_UPDATE = Endpoint("PATCH", f"assets/{SOURCE}", "user", {"name": "Renamed"}, strings=("name",))
PROJECT_CREATE = Endpoint(
    "POST",
    "projects",
    "user",
    {"name": "Board", "description": "Ideas"},
    strings=("name", "description"),
    required=("name",),
)
PROJECT_UPDATE = Endpoint(
    "PUT",
    "projects/prj_000000000000000000000000",
    "user",
    {"name": "Board", "description": "Ideas"},
    strings=("name", "description"),
)
ASSETS = Endpoint("GET", "assets", "user", {})
PROJECTS = Endpoint("GET", "projects", "user", {})
STYLES = Endpoint("GET", "studio/styles", "user", {})

WITH_BODY = [
    REGISTER,
    LOGIN,
    REFRESH,
    LOGOUT,
    PASSWORD_CHANGE,
    PROFILE_UPDATE,
    TOKENS_ADD,
    ESTIMATE,
    GENERATE_IMAGE,
    GENERATE_VIDEO,
    WEBHOOK_CREATE,
    VECTORIZE,
    REMOVE_BACKGROUND,
    UPSCALE,
    GENERATIVE_UPSCALE,
    STYLE_CREATE,
    GENERATE_VECTOR,
    ASSETS_MOVE,
    ASSET_UPDATE,
    PROJECT_CREATE,
    PROJECT_UPDATE,
]
AUTHENTICATED = [
    PASSWORD_CHANGE,
    PROFILE_GET,
    PROFILE_UPDATE,
    TOKENS_GET,
    TOKENS_ADD,
    ESTIMATE,
    GENERATE_IMAGE,
    GENERATE_VIDEO,
    WEBHOOK_CREATE,
    GENERATIONS,
    GENERATION,
    GENERATION_CANCEL,
    WEBHOOKS,
    VECTORIZE,
    STYLE_CREATE,
    GENERATE_VECTOR,
    ASSETS_MOVE,
    ASSET_UPDATE,
    PROJECT_CREATE,
    ASSETS,
    PROJECTS,
    STYLES,
]
STRING_FIELDS = [(e, f) for e in WITH_BODY for f in e.strings]
INTEGER_FIELDS = [(e, f) for e in WITH_BODY for f in e.integers]


def ids(value) -> str:
    return str(value)


def encode(payload) -> bytes:
    # ensure_ascii (the default) sends "\ud800" as the escape a client would send.
    return json.dumps(payload).encode()


def with_field(endpoint: Endpoint, field: str, value) -> bytes:
    return encode({**endpoint.body, field: value})


def assert_error(response, status: int | None = None, code: str | None = None) -> dict:
    """A 4xx whose body is exactly the error format; returns the body."""
    shown = response.content[:300]
    assert response.status_code < 500, f"server error {response.status_code}: {shown!r}"
    assert response.status_code >= 400, f"accepted with {response.status_code}: {shown!r}"
    if status is not None:
        assert response.status_code == status, shown
    assert response["Content-Type"].startswith(JSON), response["Content-Type"]
    body = json.loads(response.content)
    assert set(body) == ERROR_KEYS, body
    assert isinstance(body["error"], str) and body["error"], body
    assert isinstance(body["code"], str) and re.fullmatch(r"[A-Z_]+", body["code"]), body
    assert isinstance(body["details"], dict), body
    assert TIMESTAMP.match(body["timestamp"]), body
    assert body["requestId"] == response["X-Request-ID"], body
    if code is not None:
        assert body["code"] == code, body
    return body


def assert_invalid(response, *fields: str) -> dict:
    """400 INVALID_REQUEST whose details name each of `fields`."""
    body = assert_error(response, 400, "INVALID_REQUEST")
    for field in fields:
        assert field in body["details"], body["details"]
    return body


def database_state(users) -> tuple:
    """Everything a rejected request must leave as it was."""
    return (
        User.objects.count(),
        TokenAccount.objects.count(),
        LedgerEntry.objects.count(),
        OutstandingToken.objects.count(),
        BlacklistedToken.objects.count(),
        Generation.objects.count(),
        Webhook.objects.count(),
        Asset.objects.count(),
        Project.objects.count(),
        Style.objects.count(),
        list(
            User.objects.filter(pk__in=[u.pk for u in users])
            .order_by("pk")
            .values_list("email", "name", "password", "is_active")
        ),
    )


_AS_ENDPOINT_USER = object()


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


# --- Bodies that are not an object, or miss fields --------------------------------------------

NOT_AN_OBJECT = {
    "null": b"null",
    "empty list": b"[]",
    "list of the body": None,  # filled per endpoint: [<valid body>]
    "string": b'"hello"',
    "number": b"42",
    "true": b"true",
}


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=ids)
@pytest.mark.parametrize("shape", list(NOT_AN_OBJECT))
def test_a_body_that_is_not_an_object_is_400(send, endpoint, shape):
    data = NOT_AN_OBJECT[shape] or encode([endpoint.body])
    body = assert_invalid(send(endpoint, data))
    assert "non_field_errors" in body["details"]


@pytest.mark.parametrize("data", [b"{}", b""], ids=["empty object", "empty body"])
@pytest.mark.parametrize("endpoint", WITH_BODY, ids=ids)
def test_missing_fields_are_400_naming_each_required_field(send, endpoint, data):
    body = assert_invalid(send(endpoint, data), *endpoint.required)
    if not endpoint.required:  # profile update: at least one field
        assert "non_field_errors" in body["details"]


# --- Wrong types ---------------------------------------------------------------------------------

NOT_A_STRING = {
    "list": ["a"],
    "empty list": [],
    "object": {"a": "b"},
    "true": True,
    "false": False,
    "null": None,
}


# null is a valid value for a nullable field, so that pair is not a bad input at all.
NON_STRING_CASES = [
    pytest.param(endpoint, field, wrong, id=f"{ids(endpoint)}-{field}-{wrong}")
    for endpoint, field in STRING_FIELDS
    for wrong in NOT_A_STRING
    if not (wrong == "null" and field in endpoint.nullable)
]


@pytest.mark.parametrize(("endpoint", "field", "wrong"), NON_STRING_CASES)
def test_a_non_string_for_a_string_field_is_400_naming_it(send, endpoint, field, wrong):
    assert_invalid(send(endpoint, with_field(endpoint, field, NOT_A_STRING[wrong])), field)


@pytest.mark.parametrize(("endpoint", "field"), STRING_FIELDS, ids=ids)
@pytest.mark.parametrize("number", [12345, 1.5], ids=["int", "float"])
def test_a_number_for_a_string_field_is_coerced_or_rejected_never_a_500(
    send, endpoint, field, number
):
    # DRF's CharField accepts JSON numbers as their text ("12345"); that is allowed, a crash
    # is not.
    response = send(endpoint, with_field(endpoint, field, number), writes=True)
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        assert_error(response)


NOT_AN_INTEGER = {
    "word": "abc",
    "empty string": "",
    "list": [1],
    "object": {"n": 1},
    "true": True,
    "fraction": 1.5,
    "zero": 0,
    "huge": 10**30,
    "huge negative": -(10**30),
    "null": None,
    "long digit string": "9" * 5000,
}


# Null and zero are valid values for some fields (a nullable seed, seed 0): not bad input.
BAD_INTEGER_CASES = [
    pytest.param(endpoint, field, wrong, id=f"{wrong}-{endpoint}-{field}")
    for endpoint, field in INTEGER_FIELDS
    for wrong in NOT_AN_INTEGER
    if not (wrong == "null" and field in endpoint.nullable)
    and not (wrong == "zero" and field in endpoint.zero_ok)
]


@pytest.mark.parametrize(("endpoint", "field", "wrong"), BAD_INTEGER_CASES)
def test_a_bad_integer_is_400_naming_the_field(send, endpoint, field, wrong):
    assert_invalid(send(endpoint, with_field(endpoint, field, NOT_AN_INTEGER[wrong])), field)


# --- Sizes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("endpoint", "field"), STRING_FIELDS, ids=ids)
def test_a_one_megabyte_string_is_400_naming_the_field(send, endpoint, field):
    assert_invalid(send(endpoint, with_field(endpoint, field, "x" * 1_000_000)), field)


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=ids)
def test_a_body_over_the_upload_limit_is_413_or_400(send, endpoint, settings):
    field = endpoint.strings[0]
    data = with_field(endpoint, field, "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    assert len(data) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = assert_error(send(endpoint, data))
    assert body["code"] in ("PAYLOAD_TOO_LARGE", "INVALID_REQUEST"), body


# --- Awkward characters --------------------------------------------------------------------------


@pytest.mark.parametrize(("endpoint", "field"), STRING_FIELDS, ids=ids)
def test_a_nul_byte_in_a_string_is_400_naming_the_field(send, endpoint, field):
    assert_invalid(send(endpoint, with_field(endpoint, field, "before\u0000after")), field)


@pytest.mark.parametrize(("endpoint", "field"), STRING_FIELDS, ids=ids)
def test_a_lone_surrogate_escape_in_a_string_is_a_4xx_not_a_500(send, endpoint, field):
    # Long enough to pass the password validators, so the value reaches hashing and the
    # database, which cannot encode it as UTF-8.
    value = f"Strong-pass-{SURROGATE}-91"
    body = assert_error(send(endpoint, with_field(endpoint, field, value)))
    if body["code"] == "INVALID_REQUEST" and body["details"]:  # a field error, not a parse error
        assert field in body["details"], body


INVALID_UTF8 = {
    "surrogate as raw bytes": b"\xed\xa0\x80",
    "lone continuation byte": b"\x80",
    "0xff": b"\xff",
    "truncated sequence": b"\xe2\x82",
}


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=ids)
@pytest.mark.parametrize("raw", list(INVALID_UTF8))
def test_invalid_utf8_in_the_body_is_400(send, endpoint, raw):
    data = b'{"' + endpoint.strings[0].encode() + b'": "a' + INVALID_UTF8[raw] + b'b"}'
    assert_error(send(endpoint, data), 400, "INVALID_REQUEST")


# --- Malformed JSON ------------------------------------------------------------------------------

DEPTH = 10_000
MALFORMED = {
    "truncated": b'{"email": ',
    "open brace": b"{",
    "single quotes": b"{'email': 'a@example.com'}",
    "trailing comma": b'{"email": "a@example.com",}',
    "NaN": b'{"quantity": NaN}',
    "Infinity": b'{"amount": Infinity}',
    "two documents": b"{}{}",
    "byte order mark": b'\xef\xbb\xbf{"email": "a@example.com"}',
    "NUL byte": b"\x00",
    "xml": b"<login><email>a@example.com</email></login>",
    "nested lists": b"[" * DEPTH + b"]" * DEPTH,
    "nested objects": b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
}


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=ids)
@pytest.mark.parametrize("malformed", list(MALFORMED))
def test_malformed_json_is_400(send, endpoint, malformed):
    assert_error(send(endpoint, MALFORMED[malformed]), 400, "INVALID_REQUEST")


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=ids)
def test_a_deeply_nested_field_value_is_400(send, endpoint):
    field = endpoint.strings[0].encode()
    data = b'{"' + field + b'": ' + b"[" * DEPTH + b"]" * DEPTH + b"}"
    assert_error(send(endpoint, data), 400, "INVALID_REQUEST")


# --- Content types -------------------------------------------------------------------------------

WRONG_CONTENT_TYPES = {
    "text/plain": "text/plain",
    "multipart": "multipart/form-data; boundary=BoUnDaRy",
    "form": "application/x-www-form-urlencoded",
    "xml": "application/xml",
    "none": "",
}


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=ids)
@pytest.mark.parametrize("content_type", list(WRONG_CONTENT_TYPES))
def test_a_body_that_is_not_json_is_415(send, endpoint, content_type):
    response = send(endpoint, encode(endpoint.body), WRONG_CONTENT_TYPES[content_type])
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("charset", ["bz2_codec", "zlib_codec", "base64_codec", "rot_13"])
def test_json_declared_in_a_codec_that_is_not_a_text_encoding_is_400(send, charset):
    # bz2/zlib are bytes-to-bytes codecs: decoding through them would inflate a small body.
    response = send(LOGIN, encode(LOGIN.body), f"{JSON}; charset={charset}")
    assert_error(response, 400, "INVALID_REQUEST")


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (MALFORMED["truncated"], JSON),
        (MALFORMED["nested lists"], JSON),
        (b"email=a@example.com", "application/x-www-form-urlencoded"),
        (b"hello", "text/plain"),
        (b"[]", JSON),
    ],
    ids=["malformed", "nested", "form", "text", "list"],
)
def test_demo_sign_in_ignores_or_rejects_its_body_never_a_500(send, data, content_type):
    # The demo endpoint documents no request body and does not read one; a client's junk must
    # still never crash it. The demo user exists first so the request itself writes nothing.
    send(DEMO, b"{}", writes=True)
    counts = User.objects.count(), LedgerEntry.objects.count()
    response = send(DEMO, data, content_type, writes=True)  # a success records its token
    if response.status_code == 200:
        assert set(response.json()) == {"token", "refresh", "user"}
    else:
        assert_error(response)
    assert (User.objects.count(), LedgerEntry.objects.count()) == counts


# --- Query parameters ----------------------------------------------------------------------------

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


# --- Bad credentials -----------------------------------------------------------------------------


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


# --- Other errors in the same format -------------------------------------------------------------


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
