"""Bad bodies on every endpoint that takes one, sent as raw bytes (`client.generic`) so the
tests control exactly what arrives: not an object, missing fields, wrong types, sizes, lone
surrogates, broken JSON, wrong content types."""

import pytest

from accounts.models import User
from tests.core.bad_input.support import (
    DEMO,
    DEPTH,
    INTEGER_FIELDS,
    JSON,
    LOGIN,
    MALFORMED,
    STRING_FIELDS,
    SURROGATE,
    WITH_BODY,
    assert_error,
    assert_invalid,
    encode,
    ids,
    with_field,
)
from tokens.models import LedgerEntry

pytestmark = pytest.mark.django_db


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


@pytest.mark.parametrize(("endpoint", "field"), STRING_FIELDS, ids=ids)
def test_a_one_megabyte_string_is_400_naming_the_field(send, endpoint, field):
    assert_invalid(send(endpoint, with_field(endpoint, field, "x" * 1_000_000)), field)


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=ids)
def test_a_body_over_the_upload_limit_is_413_or_400(send, endpoint, settings):
    field = endpoint.first_field
    data = with_field(endpoint, field, "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    assert len(data) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = assert_error(send(endpoint, data))
    assert body["code"] in ("PAYLOAD_TOO_LARGE", "INVALID_REQUEST"), body


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
    data = b'{"' + endpoint.first_field.encode() + b'": "a' + INVALID_UTF8[raw] + b'b"}'
    assert_error(send(endpoint, data), 400, "INVALID_REQUEST")


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=ids)
@pytest.mark.parametrize("malformed", list(MALFORMED))
def test_malformed_json_is_400(send, endpoint, malformed):
    assert_error(send(endpoint, MALFORMED[malformed]), 400, "INVALID_REQUEST")


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=ids)
def test_a_deeply_nested_field_value_is_400(send, endpoint):
    field = endpoint.first_field.encode()
    data = b'{"' + field + b'": ' + b"[" * DEPTH + b"]" * DEPTH + b"}"
    assert_error(send(endpoint, data), 400, "INVALID_REQUEST")


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
