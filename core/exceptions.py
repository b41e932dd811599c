"""Domain errors. Services raise them; core.errors turns them into the API error format."""

from typing import Any


class DomainError(Exception):
    """An expected failure with a stable code; `http_status` is how the API reports it."""

    code = "INVALID_REQUEST"
    http_status = 400
    message = "The request could not be completed"

    def __init__(self, message: str | None = None, **details: Any):
        self.message = message or self.message
        self.details = details
        super().__init__(self.message)


class NotFound(DomainError):
    code = "NOT_FOUND"
    http_status = 404
    message = "Resource not found"


class Conflict(DomainError):
    code = "CONFLICT"
    http_status = 409
    message = "The request conflicts with the current state"


class IdempotencyConflict(Conflict):
    code = "IDEMPOTENCY_CONFLICT"
    message = "This idempotency key was already used with different parameters"


class Forbidden(DomainError):
    code = "FORBIDDEN"
    http_status = 403
    message = "You are not allowed to do this"
