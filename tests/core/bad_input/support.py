"""Every endpoint with a well-formed body, and the checks of the bad-input tests: a 4xx in
the error format, never a 500, and nothing written."""

import json
import re
from dataclasses import dataclass

from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import DataExport, User
from organizations.models import Invitation, Membership, Organization
from pipelines.models import Execution, Pipeline, Rating, Template
from studio.models import Asset, Generation, Project, Style, Webhook
from tests.factories import PASSWORD
from tokens.models import LedgerEntry, TokenAccount

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
    def first_field(self) -> str:
        """A field to carry a broken value: the first string field, else the first required."""
        return (self.strings or self.required)[0]

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


GENERATION_STAR = Endpoint(
    "PATCH",
    "studio/generation/img_0_0000000000000000",
    "user",
    {"starred": True},
    required=("starred",),
)


GENERATION_EVENTS = Endpoint("GET", "studio/generation/img_0_0000000000000000/events", "user", {})


WEBHOOK_REDELIVER = Endpoint("POST", "webhooks/wh_0/deliveries/msg_0/redeliver", "user", {})


GENERATION_CANCEL = Endpoint("POST", "studio/generation/img_0_0000000000000000/cancel", "user", {})


GENERATION_LOGS = Endpoint("GET", "studio/generation/img_0_0000000000000000/logs", "user", {})


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
    GENERATION_STAR,
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
    GENERATION_STAR,
    GENERATION_EVENTS,
    WEBHOOK_REDELIVER,
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
    GENERATION_LOGS,
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


# The template endpoints (issue 9), the user's own data (issue 10) and organizations (issue 11)
# live in modules of their own; they import Endpoint from here.
from tests.core.bad_input.organizations_endpoints import (  # noqa: E402
    ORGANIZATIONS_AUTHENTICATED,
    ORGANIZATIONS_WITH_BODY,
)
from tests.core.bad_input.pipelines_endpoints import (  # noqa: E402
    PIPELINES_AUTHENTICATED,
    PIPELINES_WITH_BODY,
)
from tests.core.bad_input.users_data_endpoints import (  # noqa: E402
    USERS_DATA_AUTHENTICATED,
    USERS_DATA_WITH_BODY,
)

WITH_BODY += PIPELINES_WITH_BODY + USERS_DATA_WITH_BODY + ORGANIZATIONS_WITH_BODY
AUTHENTICATED += PIPELINES_AUTHENTICATED + USERS_DATA_AUTHENTICATED + ORGANIZATIONS_AUTHENTICATED


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
        Template.objects.count(),
        Pipeline.objects.count(),
        Execution.objects.count(),
        Rating.objects.count(),
        DataExport.objects.count(),
        Organization.objects.count(),
        Membership.objects.count(),
        Invitation.objects.count(),
        list(
            User.objects.filter(pk__in=[u.pk for u in users])
            .order_by("pk")
            .values_list("email", "name", "password", "is_active")
        ),
    )


_AS_ENDPOINT_USER = object()


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
