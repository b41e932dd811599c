"""The OpenAPI 3 schema at /api/v1/schema/ describes every endpoint, and Swagger UI serves
it from our own static files."""

import json
import re
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.drainage import reset_generator_stats
from drf_spectacular.validation import validate_schema

from accounts import apis as accounts_apis
from core.apis import HealthApi
from studio.apis import assets as assets_apis
from studio.apis import generations as generations_apis
from studio.apis import operations as operations_apis
from studio.apis import projects as projects_apis
from studio.apis import webhooks as webhooks_apis
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
OPERATIONS = sorted(CONTRACT)
WITH_BODY = [op for op in OPERATIONS if CONTRACT[op][0] is not None]
NEEDS_TOKEN = [op for op in OPERATIONS if CONTRACT[op][3]]
# Operations that read client input (a body, query parameters or a token) and so can be refused.
CAN_REFUSE = [op for op in OPERATIONS if op != ("/api/v1/health", "get")]


def op_id(op) -> str:
    return f"{op[1].upper()} {op[0].removeprefix('/api/v1/')}"


@pytest.fixture(scope="module")
def schema() -> dict:
    # Module scope: the schema is the same for every test here; generating it is the slow part.
    response = Client().get(SCHEMA_URL, {"format": "json"})
    assert response.status_code == 200, response.content[:300]
    return json.loads(response.content)


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/components/schemas/")
        node = schema["components"]["schemas"][name]
    return node


# Request bodies that are not JSON.
MEDIA_TYPES = {("/api/v1/assets/upload", "post"): "multipart/form-data"}


def json_schema_of(schema: dict, holder: dict, media_type: str = "application/json") -> dict:
    """The resolved schema of a requestBody or response object (JSON unless told)."""
    assert media_type in holder.get("content", {}), holder
    return resolve(schema, holder["content"][media_type]["schema"])


# --- Served, and valid ---------------------------------------------------------------------------


def test_schema_is_served_to_anonymous_clients_as_openapi_3_json(client):
    response = client.get(SCHEMA_URL, {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "CraftFrame API"
    assert document["info"]["version"]


def test_schema_answers_the_openapi_json_accept_header(client):
    response = client.get(SCHEMA_URL, HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert json.loads(response.content)["openapi"].startswith("3.")


def test_schema_is_yaml_by_default(client):
    response = client.get(SCHEMA_URL)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response.content.startswith(b"openapi: 3.")


def test_schema_validates_against_the_openapi_3_json_schema(schema):
    validate_schema(schema)  # drf-spectacular's bundled OpenAPI 3.0 meta-schema, via jsonschema


def test_schema_generation_has_no_warnings_and_validates(tmp_path, capsys):
    # Warnings mean a wrong schema (e.g. two serializers behind one component name); the
    # generator's counters are process-wide, so start them from zero.
    reset_generator_stats()
    target = tmp_path / "schema.yaml"
    try:
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    except Exception as exc:
        warnings = capsys.readouterr().err
        pytest.fail(f"{type(exc).__name__}: {exc}\n{warnings}")
    finally:
        reset_generator_stats()
    assert target.read_text().startswith("openapi: 3.")


# --- Every endpoint, fully described -------------------------------------------------------------


def test_every_api_route_and_method_is_in_the_schema(schema):
    routed = set(api_operations())
    documented = {(path, method) for path, ops in schema["paths"].items() for method in ops}
    assert routed - documented == set(), "routed but not documented"
    assert documented - routed == set(), "documented but not routed"


def test_the_contract_table_here_covers_every_routed_operation():
    assert set(api_operations()) == set(CONTRACT)


@pytest.mark.parametrize("op", OPERATIONS, ids=op_id)
def test_every_operation_has_a_summary_an_id_and_a_tag(schema, op):
    operation = schema["paths"][op[0]][op[1]]
    assert operation.get("summary", "").strip(), operation
    assert operation.get("operationId"), operation
    assert operation.get("tags"), operation


def test_operation_ids_are_unique(schema):
    ids = [op["operationId"] for ops in schema["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)), ids


@pytest.mark.parametrize("op", OPERATIONS, ids=op_id)
def test_the_success_response_documents_what_the_view_returns(schema, op):
    _, status, output, _ = CONTRACT[op]
    responses = schema["paths"][op[0]][op[1]]["responses"]
    assert [code for code in responses if code.startswith(("2", "3"))] == [status], responses
    if output is None:  # a redirect
        assert "content" not in responses[status], responses[status]
        return
    body = json_schema_of(schema, responses[status])
    assert set(body.get("properties", {})) == set(output().fields), body


@pytest.mark.parametrize("op", WITH_BODY, ids=op_id)
def test_the_request_body_documents_what_the_view_accepts(schema, op):
    serializer = CONTRACT[op][0]()
    operation = schema["paths"][op[0]][op[1]]
    assert "requestBody" in operation, operation
    media_type = MEDIA_TYPES.get(op, "application/json")
    body = json_schema_of(schema, operation["requestBody"], media_type)
    assert set(body.get("properties", {})) == set(serializer.fields), body
    required = {name for name, field in serializer.fields.items() if field.required}
    assert set(body.get("required", [])) == required, body


def test_demo_sign_in_documents_no_request_body(schema):
    assert "requestBody" not in schema["paths"]["/api/v1/auth/demo"]["post"]


def test_the_ledger_documents_its_query_parameters(schema):
    parameters = schema["paths"]["/api/v1/tokens"]["get"].get("parameters", [])
    by_name = {p["name"]: p for p in parameters if p["in"] == "query"}
    assert set(by_name) == {"page", "limit", "kind"}
    assert by_name["limit"]["schema"]["maximum"] == 100
    assert by_name["page"]["schema"]["minimum"] == 1


# --- Errors --------------------------------------------------------------------------------------


def test_the_error_component_is_the_error_format(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == ERROR_FIELDS
    assert set(error["required"]) == ERROR_FIELDS
    assert error["properties"]["details"]["type"] == "object"
    for name in ERROR_FIELDS - {"details"}:
        assert error["properties"][name]["type"] == "string"


@pytest.mark.parametrize("op", CAN_REFUSE, ids=op_id)
def test_client_errors_are_documented_in_the_error_format(schema, op):
    responses = schema["paths"][op[0]][op[1]]["responses"]
    errors = {code: r for code, r in responses.items() if code.startswith("4")}
    # 400 for bad input, 429 for rate limits; 413/415 for bodies of the wrong size or type.
    assert {"400", "413", "415", "429"} <= set(errors), sorted(responses)
    for code, response in errors.items():
        assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, code
        assert response.get("description"), code


@pytest.mark.parametrize("op", NEEDS_TOKEN, ids=op_id)
def test_operations_that_need_a_token_document_401(schema, op):
    responses = schema["paths"][op[0]][op[1]]["responses"]
    assert "401" in responses, sorted(responses)


# --- Authentication ------------------------------------------------------------------------------


def _bearer_schemes(schema) -> set[str]:
    schemes = schema.get("components", {}).get("securitySchemes", {})
    return {
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "http" and scheme.get("scheme") == "bearer"
    }


def test_a_jwt_bearer_security_scheme_is_declared(schema):
    schemes = schema.get("components", {}).get("securitySchemes", {})
    bearer = _bearer_schemes(schema)
    assert bearer, schemes
    assert all(schemes[name].get("bearerFormat") == "JWT" for name in bearer), schemes


@pytest.mark.parametrize("op", NEEDS_TOKEN, ids=op_id)
def test_operations_that_need_a_token_require_the_bearer_scheme(schema, op):
    security = schema["paths"][op[0]][op[1]].get("security", schema.get("security", []))
    offered = {name for requirement in security for name in requirement}
    assert offered & _bearer_schemes(schema), security
    assert {} not in security, "an authenticated operation must not be documented as anonymous"


@pytest.mark.parametrize("op", [op for op in OPERATIONS if not CONTRACT[op][3]], ids=op_id)
def test_public_operations_are_documented_as_anonymous(schema, op):
    security = schema["paths"][op[0]][op[1]].get("security", schema.get("security", []))
    assert security == [] or {} in security, security


# --- Swagger UI ----------------------------------------------------------------------------------


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.urls.append(attributes["src"])
        if tag == "link" and attributes.get("href"):
            self.urls.append(attributes["href"])


def _docs_assets(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


def test_swagger_ui_is_served_as_html_and_loads_our_schema(client):
    response = client.get(DOCS_URL)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert f'url: "{SCHEMA_URL}"' in html


def test_swagger_ui_loads_nothing_from_a_cdn(client):
    html = client.get(DOCS_URL).content.decode()
    for cdn in ("cdn.jsdelivr", "unpkg", "cdnjs", "googleapis"):
        assert cdn not in html
    assets = _docs_assets(html)
    assert assets, html[:500]
    sidecar = f"{settings.STATIC_URL}drf_spectacular_sidecar/swagger-ui-dist/"
    assert all(url.startswith(sidecar) for url in assets), assets
    names = {url.rsplit("/", 1)[-1] for url in assets}
    assert {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"} <= names


def test_swagger_ui_assets_exist_in_our_static_files(client):
    for url in _docs_assets(client.get(DOCS_URL).content.decode()):
        response = client.get(url)
        if response.status_code == 200:  # served (collectstatic has run, or finders are on)
            continue
        # Tests run without collectstatic; the file must be where collectstatic will find it.
        found = finders.find(url.removeprefix(settings.STATIC_URL))
        assert found, f"{url}: not served ({response.status_code}) and not found by finders"
        with open(found, "rb") as asset:
            assert asset.read(1), f"{url} is empty"
