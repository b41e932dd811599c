from core.exceptions import Conflict, DomainError


class InsufficientTokens(DomainError):
    code = "INSUFFICIENT_CREDITS"
    http_status = 403
    message = "Insufficient credits for this operation"

    def __init__(self, *, required: int, available: int, **details):
        super().__init__(required=required, available=available, **details)
        self.required = required
        self.available = available


class HoldNotOpen(Conflict):
    code = "HOLD_NOT_OPEN"
    message = "This hold was already resolved"


class UnknownOperation(DomainError):
    code = "INVALID_REQUEST"
    http_status = 400
    message = "Unknown operation"
