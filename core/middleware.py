"""Request ids on every request, response and log line; rate-limit headers on responses."""

import contextvars
import logging
import re
import secrets

_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def new_request_id() -> str:
    return f"req_{secrets.token_hex(8)}"


def current_request_id() -> str:
    return _current_request_id.get()


class RequestIDLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class RequestIDMiddleware:
    """Echo a well-formed incoming X-Request-ID, else make one; add rate-limit headers."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _VALID_ID.match(incoming) else new_request_id()
        token = _current_request_id.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            _current_request_id.reset(token)
        response["X-Request-ID"] = request.request_id
        _add_ratelimit_headers(request, response)
        return response


def _add_ratelimit_headers(request, response) -> None:
    # Views that are rate limited leave their usages on the request (core.ratelimit); the
    # headers describe the tightest of them, which is the one a client must respect.
    usages = getattr(request, "ratelimit_usages", None)
    if not usages:
        return
    tightest = min(usages, key=lambda u: (u.remaining, -u.reset_at))
    response["X-RateLimit-Limit"] = str(tightest.limit)
    response["X-RateLimit-Remaining"] = str(tightest.remaining)
    response["X-RateLimit-Reset"] = str(tightest.reset_at)
    response["X-RateLimit-Window"] = str(tightest.window)
    exceeded = [u for u in usages if u.exceeded]
    if exceeded:
        response["Retry-After"] = str(max(u.retry_after for u in exceeded))
