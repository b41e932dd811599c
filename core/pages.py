"""Helpers of the server-rendered pages: the same validation as the API (its serializers), the
same domain errors, shown next to the fields they concern; safe redirects after login."""

from typing import Any

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme
from rest_framework import serializers

from core.errors import _flatten_validation
from core.exceptions import DomainError


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " ".join(_text(item) for item in value)
    if isinstance(value, dict):
        return " ".join(_text(item) for item in value.values())
    return str(value)


def validate(serializer_class: type[serializers.Serializer], data) -> tuple[dict, dict]:
    """Validate page form data with an API input serializer: (values, errors by field)."""
    serializer = serializer_class(data=data)
    if serializer.is_valid():
        return dict(serializer.validated_data), {}
    details = _flatten_validation(serializer.errors)
    return {}, {field: _text(messages) for field, messages in details.items()}


def domain_errors(
    exc: DomainError, fields: tuple[str, ...], aliases: dict[str, str] | None = None
) -> dict[str, str]:
    """A service's refusal as form errors: its details on the fields they name (`aliases`
    maps a service's name for a field to the form's), otherwise its message on the form as a
    whole (`form`)."""
    aliases = aliases or {}
    details = {aliases.get(key, key): value for key, value in exc.details.items()}
    named = {key: _text(value) for key, value in details.items() if key in fields}
    return named or {"form": exc.message}


def safe_next(request: HttpRequest, default: str) -> str:
    """`?next=` (or the form's `next`) only when it is a path on this site: never another host,
    never a scheme-relative `//evil.example`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    local = target.startswith("/") and not target.startswith(("//", "/\\"))
    if local and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default
