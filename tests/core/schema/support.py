"""What each API operation takes and returns (the contract the schema must describe), and
reading the schema."""

import re

from django.urls import URLPattern, URLResolver, get_resolver

from accounts import apis as accounts_apis
from core.apis import HealthApi
from studio.apis import assets as assets_apis
from studio.apis import events as events_apis
from studio.apis import generations as generations_apis
from studio.apis import operations as operations_apis
from studio.apis import projects as projects_apis
from studio.apis import webhooks as webhooks_apis
from tests.core.schema.organizations_contract import ORGANIZATIONS_CONTRACT
from tests.core.schema.pipelines_contract import (
    PIPELINES_CONTRACT,
    PIPELINES_RESPONSE_MEDIA_TYPES,
)
from tests.core.schema.users_data_contract import USERS_DATA_CONTRACT
from tokens import apis as tokens_apis

SCHEMA_URL = "/api/v1/schema/"


DOCS_URL = "/api/v1/docs/"


ERROR_REF = "#/components/schemas/Error"


ERROR_FIELDS = {"error", "code", "details", "timestamp", "requestId"}


UNDOCUMENTED_ROUTES = {SCHEMA_URL, DOCS_URL}


HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def _routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def api_operations() -> list[tuple[str, str]]:
    """(OpenAPI path, method) for every API view method in the URLconf."""
    found = []
    for route, pattern in _routes(get_resolver().url_patterns):
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        view_class = getattr(pattern.callback, "view_class", None)
        if not path.startswith("/api/v1/") or path in UNDOCUMENTED_ROUTES or view_class is None:
            continue
        found += [(path, method) for method in HTTP_METHODS if hasattr(view_class, method)]
    return found


# What each operation takes and returns, from the serializers the views use: the schema must
# describe these, not a look-alike that happens to share a component name.
# (path, method): (request serializer or None, 2xx status, response serializer, needs a token)
CONTRACT = {
    ("/api/v1/auth/register", "post"): (
        accounts_apis.RegisterApi.InputSerializer,
        "201",
        accounts_apis.AuthOutput,
        False,
    ),
    ("/api/v1/auth/login", "post"): (
        accounts_apis.LoginApi.InputSerializer,
        "200",
        accounts_apis.AuthOutput,
        False,
    ),
    ("/api/v1/auth/demo", "post"): (None, "200", accounts_apis.AuthOutput, False),
    ("/api/v1/auth/refresh", "post"): (
        accounts_apis.RefreshApi.InputSerializer,
        "200",
        accounts_apis.RefreshApi.OutputSerializer,
        False,
    ),
    ("/api/v1/auth/logout", "post"): (
        accounts_apis.LogoutApi.InputSerializer,
        "200",
        accounts_apis.MessageSerializer,
        False,
    ),
    ("/api/v1/auth/password", "put"): (
        accounts_apis.PasswordApi.InputSerializer,
        "200",
        accounts_apis.MessageSerializer,
        True,
    ),
    ("/api/v1/users/profile", "get"): (None, "200", accounts_apis.ProfileOutput, True),
    ("/api/v1/users/profile", "put"): (
        accounts_apis.ProfileApi.InputSerializer,
        "200",
        accounts_apis.ProfileOutput,
        True,
    ),
    ("/api/v1/tokens", "get"): (None, "200", tokens_apis.TokensOutput, True),
    ("/api/v1/tokens", "put"): (
        tokens_apis.TokensApi.GrantInput,
        "200",
        tokens_apis.TokensApi.GrantOutput,
        True,
    ),
    ("/api/v1/tokens/operations", "get"): (
        None,
        "200",
        tokens_apis.OperationsApi.OutputSerializer,
        False,
    ),
    ("/api/v1/tokens/estimate", "post"): (
        tokens_apis.EstimateApi.InputSerializer,
        "200",
        tokens_apis.EstimateApi.OutputSerializer,
        True,
    ),
    ("/api/v1/health", "get"): (None, "200", HealthApi.OutputSerializer, False),
    ("/api/v1/studio/generate-image", "post"): (
        generations_apis.GenerateImageApi.InputSerializer,
        "202",
        generations_apis.AcceptedOutput,
        True,
    ),
    ("/api/v1/studio/generate-video", "post"): (
        generations_apis.GenerateVideoApi.InputSerializer,
        "202",
        generations_apis.AcceptedOutput,
        True,
    ),
    ("/api/v1/studio/generation/{generation_id}", "get"): (
        None,
        "200",
        generations_apis.GenerationOutput,
        True,
    ),
    ("/api/v1/studio/generation/{generation_id}", "patch"): (
        generations_apis.GenerationDetailApi.UpdateSerializer,
        "200",
        generations_apis.GenerationOutput,
        True,
    ),
    ("/api/v1/studio/generation/{generation_id}/events", "get"): (
        None,
        "200",
        events_apis.ProgressEventOutput,
        True,
    ),
    ("/api/v1/studio/generation/{generation_id}/logs", "get"): (
        None,
        "200",
        generations_apis.JobLogOutput,
        True,
    ),
    ("/api/v1/studio/generation/{generation_id}/cancel", "post"): (
        None,
        "200",
        generations_apis.GenerationOutput,
        True,
    ),
    ("/api/v1/studio/generation/{generation_id}/retry", "post"): (
        None,
        "202",
        generations_apis.AcceptedOutput,
        True,
    ),
    ("/api/v1/users/generations", "get"): (
        None,
        "200",
        generations_apis.GenerationListOutput,
        True,
    ),
    ("/api/v1/users/generation/{generation_id}", "delete"): (
        None,
        "200",
        accounts_apis.MessageSerializer,
        True,
    ),
    ("/api/v1/webhooks", "get"): (None, "200", webhooks_apis.WebhookListApi.ListOutput, True),
    ("/api/v1/webhooks", "post"): (
        webhooks_apis.WebhookListApi.InputSerializer,
        "201",
        webhooks_apis.WebhookListApi.OutputSerializer,
        True,
    ),
    ("/api/v1/webhooks/{webhook_id}", "get"): (
        None,
        "200",
        webhooks_apis.WebhookDetailApi.OutputSerializer,
        True,
    ),
    ("/api/v1/webhooks/{webhook_id}", "delete"): (
        None,
        "200",
        accounts_apis.MessageSerializer,
        True,
    ),
    ("/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", "post"): (
        None,
        "202",
        webhooks_apis.DeliveryOutput,
        True,
    ),
    ("/api/v1/assets", "get"): (None, "200", assets_apis.AssetListOutput, True),
    ("/api/v1/assets/upload", "post"): (
        assets_apis.AssetUploadApi.InputSerializer,
        "201",
        assets_apis.AssetOutput,
        True,
    ),
    ("/api/v1/assets/move", "post"): (
        assets_apis.AssetMoveApi.InputSerializer,
        "200",
        assets_apis.AssetMoveApi.OutputSerializer,
        True,
    ),
    ("/api/v1/assets/{asset_id}", "get"): (None, "200", assets_apis.AssetOutput, True),
    ("/api/v1/assets/{asset_id}", "patch"): (
        assets_apis.AssetDetailApi.InputSerializer,
        "200",
        assets_apis.AssetOutput,
        True,
    ),
    ("/api/v1/assets/{asset_id}", "delete"): (
        None,
        "200",
        accounts_apis.MessageSerializer,
        True,
    ),
    ("/api/v1/assets/{asset_id}/download", "get"): (None, "302", None, True),
    ("/api/v1/projects", "get"): (None, "200", projects_apis.ProjectListOutput, True),
    ("/api/v1/projects", "post"): (
        projects_apis.ProjectListApi.InputSerializer,
        "201",
        projects_apis.ProjectOutput,
        True,
    ),
    ("/api/v1/projects/{project_id}", "get"): (None, "200", projects_apis.ProjectOutput, True),
    ("/api/v1/projects/{project_id}", "put"): (
        projects_apis.ProjectDetailApi.InputSerializer,
        "200",
        projects_apis.ProjectOutput,
        True,
    ),
    ("/api/v1/projects/{project_id}", "delete"): (
        None,
        "200",
        projects_apis.ProjectDetailApi.DeleteOutputSerializer,
        True,
    ),
    ("/api/v1/projects/{project_id}/duplicate", "post"): (
        None,
        "201",
        projects_apis.ProjectOutput,
        True,
    ),
    ("/api/v1/studio/generate-vector", "post"): (
        operations_apis.GenerateVectorApi.InputSerializer,
        "202",
        generations_apis.AcceptedOutput,
        True,
    ),
    ("/api/v1/studio/vectorize", "post"): (
        operations_apis.VectorizeApi.InputSerializer,
        "202",
        generations_apis.AcceptedOutput,
        True,
    ),
    ("/api/v1/studio/remove-background", "post"): (
        operations_apis.OperationInput,
        "202",
        generations_apis.AcceptedOutput,
        True,
    ),
    ("/api/v1/studio/upscale", "post"): (
        operations_apis.UpscaleApi.InputSerializer,
        "202",
        generations_apis.AcceptedOutput,
        True,
    ),
    ("/api/v1/studio/generative-upscale", "post"): (
        operations_apis.GenerativeUpscaleApi.InputSerializer,
        "202",
        generations_apis.AcceptedOutput,
        True,
    ),
    ("/api/v1/studio/styles", "get"): (
        None,
        "200",
        operations_apis.StyleListApi.ListOutput,
        True,
    ),
    ("/api/v1/studio/styles", "post"): (
        operations_apis.StyleListApi.InputSerializer,
        "202",
        generations_apis.AcceptedOutput,
        True,
    ),
    ("/api/v1/studio/styles/{style_id}", "get"): (
        None,
        "200",
        operations_apis.StyleOutput,
        True,
    ),
    ("/api/v1/studio/styles/{style_id}", "delete"): (
        None,
        "200",
        accounts_apis.MessageSerializer,
        True,
    ),
}


CONTRACT.update(PIPELINES_CONTRACT)
CONTRACT.update(USERS_DATA_CONTRACT)
CONTRACT.update(ORGANIZATIONS_CONTRACT)


OPERATIONS = sorted(CONTRACT)


WITH_BODY = [op for op in OPERATIONS if CONTRACT[op][0] is not None]


NEEDS_TOKEN = [op for op in OPERATIONS if CONTRACT[op][3]]


# Operations that read client input (a body, query parameters or a token) and so can be refused.
CAN_REFUSE = [op for op in OPERATIONS if op != ("/api/v1/health", "get")]


def op_id(op) -> str:
    return f"{op[1].upper()} {op[0].removeprefix('/api/v1/')}"


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/components/schemas/")
        node = schema["components"]["schemas"][name]
    return node


# Request bodies that are not JSON.
MEDIA_TYPES = {("/api/v1/assets/upload", "post"): "multipart/form-data"}
# Successful responses that are not JSON.
RESPONSE_MEDIA_TYPES = {
    ("/api/v1/studio/generation/{generation_id}/events", "get"): "text/event-stream",
    **PIPELINES_RESPONSE_MEDIA_TYPES,
}


def json_schema_of(schema: dict, holder: dict, media_type: str = "application/json") -> dict:
    """The resolved schema of a requestBody or response object (JSON unless told)."""
    assert media_type in holder.get("content", {}), holder
    return resolve(schema, holder["content"][media_type]["schema"])
