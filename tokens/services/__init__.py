"""Every write to balances goes through here.

Rules (DESIGN.md "Token ledger"):
- balances change only by one guarded `UPDATE … RETURNING` (`_apply`), never read-modify-write;
  the guard keeps `0 <= held <= balance`, which the database also enforces with CHECKs;
- every change appends a LedgerEntry in the same transaction, with the balance it left;
- each call is idempotent on its key: a replay returns the original result and moves nothing,
  the same key with different numbers raises IdempotencyConflict;
- a hold resolves once: the open -> captured/released transition is a conditional update
  (or a locked read); part captures charge an open hold step by step before it resolves.
"""

from tokens.services._core import month_bounds
from tokens.services.accounts import (
    account_for_user,
    account_open,
    account_refill_if_low,
    tokens_adjust,
    tokens_grant,
    tokens_renew,
)
from tokens.services.holds import (
    hold_capture,
    hold_create,
    hold_refund,
    hold_release,
    holds_release_expired,
)
from tokens.services.parts import hold_capture_part

__all__ = [
    "account_for_user",
    "account_open",
    "account_refill_if_low",
    "hold_capture",
    "hold_capture_part",
    "hold_create",
    "hold_refund",
    "hold_release",
    "holds_release_expired",
    "month_bounds",
    "tokens_adjust",
    "tokens_grant",
    "tokens_renew",
]
