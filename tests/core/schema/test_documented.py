"""The OpenAPI 3 schema at /api/v1/schema/ is served, valid, and describes every endpoint:
its request, its success response and its errors."""

import json

import pytest
from django.core.management import call_command
from drf_spectacular.drainage import reset_generator_stats
from drf_spectacular.validation import validate_schema

from tests.core.schema.support import (
    CAN_REFUSE,
    CONTRACT,
    ERROR_FIELDS,
    ERROR_REF,
    MEDIA_TYPES,
    NEEDS_TOKEN,
    OPERATIONS,
    RESPONSE_MEDIA_TYPES,
    SCHEMA_URL,
    WITH_BODY,
    api_operations,
    json_schema_of,
    op_id,
)


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
    media_type = RESPONSE_MEDIA_TYPES.get(op, "application/json")
    body = json_schema_of(schema, responses[status], media_type)
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
