"""The one place where exceptions become the API error format.

`{"error", "code", "details", "timestamp", "requestId"}` for every failure under /api/,
whether it comes from DRF, a domain service, Django's URL resolver or an unexpected bug.
"""

import logging
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from core.exceptions import DomainError
from core.middleware import current_request_id
from core.serializers import iso

logger = logging.getLogger(__name__)


class RateLimitExceeded(drf.APIException):
    status_code = 429
    default_detail = "Rate limit exceeded"
    default_code = "RATE_LIMIT_EXCEEDED"

    def __init__(self, *, limit: int, window: int, retry_after: int):
        super().__init__()
        self.extra = {"limit": limit, "window": f"{window} seconds", "retryAfter": retry_after}


def timestamp() -> str:
    return iso(datetime.now(UTC))


def error_body(message: str, code: str, details: dict | None = None, request=None) -> dict:
    request_id = getattr(request, "request_id", None) or current_request_id()
    return {
        "error": message,
        "code": code,
        "details": details or {},
        "timestamp": timestamp(),
        "requestId": request_id,
    }


_MAX_MESSAGE = 300


def _safe_text(value: Any) -> str:
    """Messages may quote the client's input: keep them short, and encodable (a lone
    surrogate from a JSON escape would make the renderer fail)."""
    text = str(value)
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _flatten_validation(detail: Any) -> Any:
    """DRF's nested ErrorDetail structure as plain strings, lists and dicts."""
    if isinstance(detail, dict):
        return {_safe_text(key): _flatten_validation(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten_validation(item) for item in detail]
    return _safe_text(detail)


def _first_message(details: Any, path: str = "") -> str:
    if isinstance(details, dict):
        for key, value in details.items():
            label = key if key != "non_field_errors" else ""
            return _first_message(value, f"{path}.{label}" if path and label else label or path)
    if isinstance(details, list) and details:
        return _first_message(details[0], path)
    return f"{path}: {details}" if path else str(details)


# DRF exception class -> (code, message override or None)
_DRF_CODES: list[tuple[type, str]] = [
    (RateLimitExceeded, "RATE_LIMIT_EXCEEDED"),
    (drf.NotAuthenticated, "UNAUTHORIZED"),
    (drf.AuthenticationFailed, "UNAUTHORIZED"),
    (drf.PermissionDenied, "FORBIDDEN"),
    (drf.NotFound, "NOT_FOUND"),
    (drf.MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (drf.NotAcceptable, "NOT_ACCEPTABLE"),
    (drf.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (drf.Throttled, "RATE_LIMIT_EXCEEDED"),
    (drf.ParseError, "INVALID_REQUEST"),
    (drf.ValidationError, "INVALID_REQUEST"),
]


def _from_drf(exc: drf.APIException) -> tuple[int, str, str, dict]:
    code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), "ERROR")
    if isinstance(exc, drf.ValidationError):
        details = _flatten_validation(exc.detail)
        if not isinstance(details, dict):
            details = {"non_field_errors": details if isinstance(details, list) else [details]}
        return 400, code, f"Invalid request: {_first_message(details)}", details
    if isinstance(exc, RateLimitExceeded):
        return 429, code, "Rate limit exceeded", exc.extra
    if isinstance(exc, drf.Throttled):
        return 429, code, "Rate limit exceeded", {"retryAfter": exc.wait}
    if isinstance(exc, InvalidToken):
        return 401, code, "Token is invalid or expired", {}
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return exc.status_code, code, message, {}


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's EXCEPTION_HANDLER: every error under the API in the standard format."""
    request = context.get("request")
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        status, code, message, details = exc.http_status, exc.code, exc.message, exc.details
    elif isinstance(exc, TokenError):
        status, code, message, details = 401, "UNAUTHORIZED", "Token is invalid or expired", {}
    elif isinstance(exc, Http404):
        status, code, message, details = 404, "NOT_FOUND", "Resource not found", {}
    elif isinstance(exc, PermissionDenied):
        status, code, message, details = 403, "FORBIDDEN", "You are not allowed to do this", {}
    elif isinstance(exc, RequestDataTooBig):
        status, code, details = 413, "PAYLOAD_TOO_LARGE", {}
        message = "Request body is too large"
    elif isinstance(exc, SuspiciousOperation):
        status, code, message, details = 400, "INVALID_REQUEST", "Malformed request", {}
    elif isinstance(exc, drf.APIException):
        status, code, message, details = _from_drf(exc)
        if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
            # DRF would answer 403 for a missing token when the first authenticator has no
            # WWW-Authenticate header; the seed says 401 UNAUTHORIZED.
            status = 401
            headers["WWW-Authenticate"] = 'Bearer realm="api"'
    else:
        logger.exception("Unhandled error in API view", exc_info=exc)
        status, code, message, details = 500, "INTERNAL_ERROR", "Internal server error", {}
    response = Response(error_body(message, code, details, request), status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def json_error(request, status: int, message: str, code: str) -> JsonResponse:
    return JsonResponse(error_body(message, code, None, request), status=status)


def _page(request, status: int, title: str, text: str):
    """An error page in the site's layout; falls back to plain text if even that fails."""
    from django.http import HttpResponse
    from django.template.loader import render_to_string

    try:
        body = render_to_string(
            "errors/error.html", {"status": status, "title": title, "text": text}, request
        )
    except Exception:  # the layout itself failed (a database outage): say it plainly
        logger.exception("error page could not be rendered")
        body = f"{status} {title}"
    return HttpResponse(body, status=status)


def handler404(request, exception=None):
    if _is_api(request):
        return json_error(request, 404, "Resource not found", "NOT_FOUND")
    return _page(
        request,
        404,
        "Page not found",
        "There is nothing here, or it belongs to someone else. Check the address, or head back "
        "to the studio.",
    )


def handler500(request):
    if _is_api(request):
        return json_error(request, 500, "Internal server error", "INTERNAL_ERROR")
    return _page(
        request,
        500,
        "Something went wrong",
        f"We could not show this page. Try again in a moment; if it keeps happening, quote "
        f"reference {current_request_id()} to support.",
    )


def handler400(request, exception=None):
    if _is_api(request):
        return json_error(request, 400, "Malformed request", "INVALID_REQUEST")
    return _page(request, 400, "Bad request", "The request could not be understood.")


def handler403(request, exception=None):
    if _is_api(request):
        return json_error(request, 403, "You are not allowed to do this", "FORBIDDEN")
    return _page(request, 403, "Not allowed", "You do not have access to this page.")


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: a form sent without (or with a forged) CSRF token."""
    if _is_api(request):
        return json_error(request, 403, f"CSRF check failed: {reason}", "FORBIDDEN")
    return _page(
        request,
        403,
        "This form has expired",
        "For your security the form could not be sent. Reload the page and try again.",
    )
