"""Log lines: human-readable by default, one JSON object per line with LOG_FORMAT=json, and the
request id, user id and job id on them where known."""

import io
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.logging import (
    PLAIN_FORMAT,
    JSONFormatter,
    LogContextFilter,
    log_context,
    logging_config,
)
from tests.core.test_settings import start as start_settings

ROOT = Path(__file__).resolve().parents[2]
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

logger = logging.getLogger("tests.core.logging")


# A URLconf with views that log, used through @pytest.mark.urls(__name__).
class LoggingApi(APIView):
    throttle_classes = []  # the default JWT/session authentication and IsAuthenticated

    def get(self, request):
        logger.info("api view ran", extra={"generation": "gen_1", "opaque": object()})
        return Response({"ok": True})


class AnonymousLoggingApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def get(self, request):
        logger.info("anonymous view ran")
        return Response({"ok": True})


@login_required
def logging_page(request):
    logger.info("page ran")
    return HttpResponse("ok")


def public_logging_page(request):
    logger.info("public page ran")
    return HttpResponse("ok")


urlpatterns = [
    path("api/v1/test/logs", LoggingApi.as_view()),
    path("api/v1/test/logs-anonymous", AnonymousLoggingApi.as_view()),
    path("test/logs-page", logging_page),
    path("test/logs-public-page", public_logging_page),
    path("", include("config.urls")),
]


def _console_handler() -> logging.Handler:
    (handler,) = [h for h in logging.getLogger().handlers if h.name == "console"]
    return handler


@pytest.fixture
def captured():
    """What the configured console handler writes, with the formatter a test picks."""
    handler = _console_handler()
    stream = io.StringIO()
    old_stream, old_formatter = handler.setStream(stream), handler.formatter
    old_level = logger.level
    logger.setLevel(logging.INFO)

    def output(fmt: str = "json") -> io.StringIO:
        handler.setFormatter(JSONFormatter() if fmt == "json" else logging.Formatter(PLAIN_FORMAT))
        return stream

    yield output
    handler.setStream(old_stream)
    handler.setFormatter(old_formatter)
    logger.setLevel(old_level)


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def line_for(stream: io.StringIO, message: str) -> dict:
    (line,) = [line for line in json_lines(stream) if line["message"] == message]
    return line


def format_json(record: logging.LogRecord) -> str:
    LogContextFilter().filter(record)
    return JSONFormatter().format(record)


# --- The JSON formatter ---------------------------------------------------------------------


def test_json_formatter_writes_one_object_per_line_with_the_fields():
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "studio.services", logging.ERROR, __file__, 1, "two\nlines %s", ("here",), exc_info
    )
    record.attempt = 3
    with log_context(job_id="img_123", user_id="u-1"):
        text = format_json(record)

    assert "\n" not in text
    line = json.loads(text)
    assert TIME.match(line["time"]), line
    assert line["level"] == "ERROR"
    assert line["logger"] == "studio.services"
    assert line["message"] == "two\nlines here"
    assert line["job_id"] == "img_123"
    assert line["user_id"] == "u-1"
    assert line["attempt"] == 3
    assert "request_id" not in line  # outside a request
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: bad\nthing" in line["exception"]


def test_json_formatter_leaves_out_unknown_ids_and_stringifies_what_json_cannot_hold():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    record.opaque = {1, 2}
    line = json.loads(format_json(record))
    assert set(line) == {"time", "level", "logger", "message", "opaque"}
    assert line["opaque"] == "{1, 2}"


def test_json_time_is_utc_with_milliseconds():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    record.created = 1_700_000_000.1234
    assert json.loads(format_json(record))["time"] == "2023-11-14T22:13:20.123Z"


# --- Context on log lines -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_authenticated_api_request_logs_its_request_id_and_user_id(user_api, user, captured):
    stream = captured("json")
    response = user_api.get("/api/v1/test/logs", HTTP_X_REQUEST_ID="req-log-test")
    assert response.status_code == 200, response.content

    line = line_for(stream, "api view ran")
    assert line["request_id"] == "req-log-test" == response["X-Request-ID"]
    assert line["user_id"] == str(user.pk)
    assert line["generation"] == "gen_1"
    assert line["opaque"].startswith("<object object at")
    assert "job_id" not in line


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_anonymous_request_logs_its_request_id_and_no_user_id(api, captured):
    stream = captured("json")
    response = api.get("/api/v1/test/logs-anonymous")
    assert response.status_code == 200

    line = line_for(stream, "anonymous view ran")
    assert line["request_id"] == response["X-Request-ID"]
    assert "user_id" not in line


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_signed_in_page_request_logs_the_user_id(client, user, captured):
    client.force_login(user)
    stream = captured("json")
    response = client.get("/test/logs-page")
    assert response.status_code == 200

    line = line_for(stream, "page ran")
    assert line["user_id"] == str(user.pk)
    assert line["request_id"] == response["X-Request-ID"]


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_logging_does_not_look_up_a_user_the_view_never_asked_for(
    client, user, captured, django_assert_num_queries
):
    # Resolving the session's user from inside a log call would cost queries on every line.
    client.force_login(user)
    stream = captured("json")
    with django_assert_num_queries(0):
        response = client.get("/test/logs-public-page")
    assert response.status_code == 200
    assert "user_id" not in line_for(stream, "public page ran")


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_another_users_request_logs_that_users_id(user_api, user, captured):
    from tests.conftest import login
    from tests.factories import UserFactory

    other = UserFactory()
    stream = captured("json")
    login(type(user_api)(), other).get("/api/v1/test/logs")
    user_api.get("/api/v1/test/logs")

    ids = [line["user_id"] for line in json_lines(stream) if line["message"] == "api view ran"]
    assert ids == [str(other.pk), str(user.pk)]


def test_job_id_is_logged_inside_log_context_and_not_after(captured):
    stream = captured("json")
    logger.info("before")
    with log_context(job_id="img_outer"):
        logger.info("outer")
        with log_context(job_id="img_inner", attempt=2):
            logger.info("inner")
        logger.info("outer again")
    logger.info("after")

    lines = {line["message"]: line for line in json_lines(stream)}
    assert "job_id" not in lines["before"]
    assert lines["outer"]["job_id"] == "img_outer"
    assert (lines["inner"]["job_id"], lines["inner"]["attempt"]) == ("img_inner", 2)
    assert lines["outer again"]["job_id"] == "img_outer"
    assert "attempt" not in lines["outer again"]
    assert "job_id" not in lines["after"]


def test_log_context_is_undone_when_the_block_raises(captured):
    stream = captured("json")
    with pytest.raises(RuntimeError), log_context(job_id="img_failed"):
        raise RuntimeError("job failed")
    logger.info("after the failure")
    assert "job_id" not in line_for(stream, "after the failure")


def test_log_context_refuses_names_of_log_record_attributes():
    with pytest.raises(ValueError, match="message"), log_context(message="clobbered"):
        pass


# --- The plain format -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_plain_format_still_carries_the_request_id(api, captured):
    stream = captured("plain")
    logger.info("outside a request")
    response = api.get("/api/v1/test/logs-anonymous", HTTP_X_REQUEST_ID="req-plain")
    assert response.status_code == 200

    lines = stream.getvalue().splitlines()
    assert any(line.endswith("INFO tests.core.logging [-] outside a request") for line in lines)
    assert any(
        line.endswith("INFO tests.core.logging [req-plain] anonymous view ran") for line in lines
    ), lines


# --- Choosing the format --------------------------------------------------------------------


def test_logging_config_picks_the_formatter_and_level():
    plain, as_json = logging_config("plain", "INFO"), logging_config("json", "WARNING")
    assert plain["handlers"]["console"]["formatter"] == "plain"
    assert as_json["handlers"]["console"]["formatter"] == "json"
    assert as_json["formatters"]["json"]["()"] == "core.logging.JSONFormatter"
    assert (plain["root"]["level"], as_json["root"]["level"]) == ("INFO", "WARNING")
    # uvicorn's own plain handlers are replaced only in JSON mode.
    assert "uvicorn.access" not in plain["loggers"]
    assert as_json["loggers"]["uvicorn.access"] == {"handlers": ["console"], "propagate": False}
    with pytest.raises(ValueError, match="xml"):
        logging_config("xml", "INFO")


SCRIPT = (
    "import django, logging; django.setup(); "
    "logging.getLogger('craftframe.check').warning('started %s', 'up')"
)


def start(tmp_path, **env) -> subprocess.CompletedProcess:
    """Start the settings in a fresh interpreter (as tests.core.test_settings does) and log a
    line."""
    secret = "a-long-enough-secret-key-for-the-logging-tests-0123456789"
    return start_settings(tmp_path, SCRIPT, SECRET_KEY=secret, **env)


def test_log_format_json_writes_json_lines(tmp_path):
    result = start(tmp_path, LOG_FORMAT="JSON")
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(text) for text in result.stderr.splitlines()]
    assert line["message"] == "started up"
    assert (line["level"], line["logger"]) == ("WARNING", "craftframe.check")


def test_human_readable_lines_are_the_default(tmp_path):
    result = start(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.rstrip("\n").endswith("WARNING craftframe.check [-] started up")


def test_unknown_log_format_stops_start_up_naming_it(tmp_path):
    result = start(tmp_path, LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "LOG_FORMAT must be plain or json; got 'xml'" in result.stderr
