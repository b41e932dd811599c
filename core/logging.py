"""Log context (request, user and job ids) on every record, and the plain or JSON line format.

No Django models here: config/settings.py imports this module to build LOGGING.
"""

import contextvars
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from django.utils.functional import LazyObject, empty

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_request: contextvars.ContextVar[Any] = contextvars.ContextVar("log_request", default=None)
# Each log_context() sets a new mapping, never changes one: the default is read-only.
_fields: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "log_fields", default=MappingProxyType({})
)

CONTEXT_FIELDS = ("request_id", "user_id", "job_id")
# Attributes every LogRecord has (plus those Formatter.format adds): anything else on a record
# came from `extra=` or from log_context().
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def current_request_id() -> str:
    return _request_id.get()


@contextmanager
def request_context(request, request_id: str) -> Iterator[None]:
    """Bind a request and its id to the log records made while it is served."""
    tokens = (_request_id.set(request_id), _request.set(request))
    try:
        yield
    finally:
        _request.reset(tokens[1])
        _request_id.reset(tokens[0])


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields (job_id, user_id, ...) to every log record made inside the block; nestable."""
    clashing = sorted(name for name in fields if name in _RECORD_ATTRS)
    if clashing:
        raise ValueError(f"log_context fields clash with LogRecord attributes: {clashing}")
    token = _fields.set({**_fields.get(), **fields})
    try:
        yield
    finally:
        _fields.reset(token)


def _request_user_id(request) -> str | None:
    """The id of the request's user if authentication has already run, without running it.

    AuthenticationMiddleware leaves a lazy user that pages resolve when they need it; DRF
    authenticates inside the view and stores the user it found on the HttpRequest. Resolving
    the lazy user here would query the database from inside a log call (and for every log line
    of an anonymous request), so a user nobody has looked at yet is not logged.
    """
    user = request.__dict__.get("user")
    if isinstance(user, LazyObject):
        user = user._wrapped
        if user is empty:
            return None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return str(user.pk)


class LogContextFilter(logging.Filter):
    """Put request_id, user_id and job_id (None when unknown) and log_context() fields on
    every record; a field passed with `extra=` wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _fields.get()
        request = _request.get()
        values = {
            "request_id": fields.get("request_id") or current_request_id(),
            "user_id": fields.get("user_id"),
            "job_id": fields.get("job_id"),
        }
        if values["user_id"] is None and request is not None:
            values["user_id"] = _request_user_id(request)
        for name, value in {**fields, **values}.items():
            if name not in record.__dict__:
                setattr(record, name, value)
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context ids that are set,
    `exception` when there is one, and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, tz=UTC)
        line: dict[str, Any] = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value not in (None, "", "-"):
                line[name] = value
        for name, value in record.__dict__.items():
            if name in _RECORD_ATTRS or name in CONTEXT_FIELDS or name.startswith("_"):
                continue
            line[name] = value if _serialisable(value) else repr(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # json.dumps escapes newlines (tracebacks, multi-line messages): one record, one line.
        return json.dumps(line, ensure_ascii=False, default=str)


def _serialisable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def logging_config(fmt: str, level: str) -> dict:
    """The LOGGING setting: every line on stderr, `fmt` "plain" (human-readable) or "json"."""
    if fmt not in ("plain", "json"):
        raise ValueError(f"log format must be plain or json, got {fmt!r}")
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "core.logging.LogContextFilter"}},
        "formatters": {
            "plain": {"format": PLAIN_FORMAT},
            "json": {"()": "core.logging.JSONFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": fmt,
                "filters": ["context"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "httpx2": {"level": "WARNING"},  # huggingface_hub's client logs every request
            "httpx": {"level": "WARNING"},
        },
    }
    if fmt == "json":
        # uvicorn installs its own plain-text handlers before Django starts; a log collector
        # reading JSON lines would choke on them, so they go through ours (their levels stay).
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            config["loggers"][name] = {"handlers": ["console"], "propagate": False}
    return config
