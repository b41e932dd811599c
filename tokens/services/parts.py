"""Part captures: a hold taken once for a whole pipeline, charged step by step.

A part charges some of an open hold, which stays open with `captured` grown; when the parts
reach the whole amount the hold closes itself (CAPTURED). Whatever the parts leave is charged
or given back by the usual final hold_capture / hold_release (tokens.services.holds).
"""

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from core.exceptions import IdempotencyConflict
from tokens import pg
from tokens.exceptions import HoldNotOpen
from tokens.models import EntryKind, Hold, HoldStatus, LedgerEntry
from tokens.services._core import _After, _apply, _by_key, _entry, _single_statement


def hold_capture_part(*, hold: Hold, amount: int, key: str, memo: str = "") -> LedgerEntry:
    """Charge `amount` of an open hold, which stays open (closing itself when fully charged).

    Idempotent on `key`, one per part: a replay returns the part's entry and moves nothing,
    the same key for a different amount raises IdempotencyConflict. Raises HoldNotOpen when the
    hold is resolved or the part exceeds what is left.
    """
    if amount <= 0:
        raise ValueError("a part capture must be positive")
    if not key:
        raise ValueError("a part capture needs a key")
    # Longer than the hold's final capture key, `capture:{hold key}`, so never the same.
    entry_key = f"capture:{hold.idempotency_key}:{key}"
    try:
        # A savepoint inside a caller's transaction: a replayed key's IntegrityError (its
        # entry exists already) rolls back this part only, and the caller's transaction stays
        # usable. Replays are rare (a redelivered step), so they are not looked up first.
        if _single_statement():
            done = _capture_part_statement(hold, amount, entry_key, memo or hold.operation)
        else:
            with transaction.atomic():
                done = _capture_part(hold, amount, entry_key, memo or hold.operation)
    except IntegrityError:  # the same key, earlier or concurrently: that call charged the part
        replay = _replayed_part(hold, entry_key, amount)
        if replay:
            return replay
        raise
    if done is None:
        # Refused; but a concurrent call with this key may be the reason (it took what was
        # left, or closed the hold): then this is its replay.
        replay = _replayed_part(hold, entry_key, amount)
        if replay:
            return replay
        raise _refusal(hold, amount)
    # Only now, once the savepoint is released: a rolled-back part must not show on `hold`.
    entry, (hold.status, hold.captured, hold.resolved_at) = done
    return entry


def _capture_part(
    hold: Hold, amount: int, entry_key: str, memo: str
) -> tuple[LedgerEntry, tuple] | None:
    """The part's movement, inside an atomic(): its entry and the hold's (status, captured,
    resolved_at) after it; None when the hold refused it."""
    now = timezone.now()
    # The hold row first, the account row last (by _apply): the order of every hold movement,
    # so a part and a final resolution of the same hold cannot deadlock. The guard is the
    # conditional update; the CASEs (on the row as it was) close the hold with its last part.
    last = Q(captured=F("amount") - amount)
    claimed = Hold.objects.filter(
        pk=hold.pk, status=HoldStatus.OPEN, captured__lte=F("amount") - amount
    ).update(
        captured=F("captured") + amount,
        status=Case(When(last, then=Value(HoldStatus.CAPTURED)), default=F("status")),
        resolved_at=Case(When(last, then=Value(now)), default=F("resolved_at")),
    )
    if not claimed:
        return None
    fields = Hold.objects.values_list("status", "captured", "resolved_at").get(pk=hold.pk)
    after = _apply(hold.account_id, amount=-amount, held_delta=-amount)
    if after is None:  # only possible if someone bypassed the services
        raise RuntimeError(f"ledger invariant broken on account {hold.account_id}")
    entry = _entry(
        account_id=hold.account_id,
        kind=EntryKind.CAPTURE,
        amount=-amount,
        held_delta=-amount,
        after=after,
        key=entry_key,
        memo=memo,
        hold=hold,
    )
    entry.save()
    return entry, fields


def _capture_part_statement(
    hold: Hold, amount: int, entry_key: str, memo: str
) -> tuple[LedgerEntry, tuple] | None:
    """The same movement as _capture_part, as one statement on PostgreSQL (tokens.pg)."""
    row = pg.hold_capture_part(hold_id=hold.pk, amount=amount, entry_key=entry_key, memo=memo[:500])
    if row is None:
        return None
    status, captured, resolved_at, entry_id, created_at, balance, held = row
    entry = _entry(
        account_id=hold.account_id,
        kind=EntryKind.CAPTURE,
        amount=-amount,
        held_delta=-amount,
        after=_After(balance, held),
        key=entry_key,
        memo=memo,
        hold=hold,
    )
    entry.pk, entry.created_at = entry_id, created_at
    entry._state.adding = False
    return entry, (status, captured, resolved_at)


def _replayed_part(hold: Hold, entry_key: str, amount: int) -> LedgerEntry | None:
    entry = _by_key(
        LedgerEntry.objects.filter(account_id=hold.account_id, idempotency_key=entry_key)
    )
    if entry is None:
        return None
    if entry.kind != EntryKind.CAPTURE or entry.hold_id != hold.pk or entry.amount != -amount:
        raise IdempotencyConflict(
            "This part key was already used for a different capture",
            previous_amount=-entry.amount,
            amount=amount,
        )
    return entry


def _refusal(hold: Hold, amount: int) -> HoldNotOpen:
    current = Hold.objects.get(pk=hold.pk)
    if current.status != HoldStatus.OPEN:
        return HoldNotOpen(
            f"Hold is already {current.status}",
            status=current.status,
            captured=current.captured,
            requested=amount,
        )
    return HoldNotOpen(
        "Part capture exceeds what is left on the hold",
        status=current.status,
        amount=current.amount,
        captured=current.captured,
        left=current.amount - current.captured,
        requested=amount,
    )
