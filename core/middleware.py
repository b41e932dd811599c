"""Request ids on every request, response and log line; rate-limit headers on responses."""

import re
import secrets

from core.logging import current_request_id, request_context

# current_request_id is re-exported: the log context lives in core.logging now.
__all__ = ["RequestIDMiddleware", "current_request_id", "new_request_id"]

_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def new_request_id() -> str:
    return f"req_{secrets.token_hex(8)}"


class RequestIDMiddleware:
    """Echo a well-formed incoming X-Request-ID, else make one; add rate-limit headers."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _VALID_ID.match(incoming) else new_request_id()
        # The request itself is bound too: the log filter reads its user once authentication
        # has run (DRF authenticates inside the view, after every middleware).
        with request_context(request, request.request_id):
            response = self.get_response(request)
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
