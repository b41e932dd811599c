"""Holds: reserve credits for work, then capture, release or refund them."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Model
from django.utils import timezone

from core.exceptions import IdempotencyConflict
from tokens import pg
from tokens.exceptions import HoldNotOpen, InsufficientTokens
from tokens.models import EntryKind, Hold, HoldStatus, LedgerEntry, TokenAccount
from tokens.services._core import (
    _After,
    _apply,
    _available,
    _by_key,
    _entry,
    _new_key,
    _single_statement,
)
from tokens.services.accounts import _refill_if_low, tokens_renew


def hold_create(
    *,
    account: TokenAccount,
    amount: int,
    idempotency_key: str | None = None,
    operation: str = "",
    memo: str = "",
    subject: Model | None = None,
    ttl: timedelta | None = None,
    member=None,
) -> Hold:
    """Reserve credits for work; raises InsufficientTokens with required/available.
    `member`: on an organization's account, who spends (organizations.services checks their
    monthly limit under a lock before calling this)."""
    if amount <= 0:
        raise ValueError("a hold must be positive")
    key = idempotency_key or _new_key()
    if account.period_end <= timezone.now():
        tokens_renew(account=account)
    insert = dict(
        account=account,
        amount=amount,
        key=key,
        operation=operation[:64],
        memo=(memo or operation)[:500],
        subject=subject,
        expires_at=timezone.now() + (ttl or settings.HOLD_TTL),
        member_id=member.pk if member is not None else None,
    )
    # No look-up of the key first: the unique (account, key) index finds a replay for free
    # (IntegrityError), and a replay on an empty account shows up as "insufficient".
    try:
        hold = _hold_insert(**insert)
    except IntegrityError:
        replay = _replayed_hold(account.pk, key, amount)
        if replay:
            return replay
        raise
    except InsufficientTokens:
        replay = _replayed_hold(account.pk, key, amount)
        if replay:
            return replay
        if not _refill_if_low(account):
            raise
        hold = _hold_insert(**insert)
    if account.refill_below is not None and hold.remaining_available < account.refill_below:
        _refill_if_low(account)
    return hold


def _hold_insert(*, account, amount, key, operation, memo, subject, expires_at, member_id) -> Hold:
    content_type = ContentType.objects.get_for_model(subject) if subject is not None else None
    object_id = str(subject.pk) if subject is not None else ""
    if _single_statement():
        row = pg.hold_insert(
            account_id=account.pk,
            amount=amount,
            key=key,
            operation=operation,
            memo=memo,
            expires_at=expires_at,
            content_type_id=content_type.pk if content_type else None,
            object_id=object_id,
            member_id=member_id,
        )
        if row is None:
            raise InsufficientTokens(required=amount, available=_available(account.pk))
        hold_id, created_at, balance, held = row
        hold = Hold(
            id=hold_id,
            account_id=account.pk,
            amount=amount,
            operation=operation,
            content_type=content_type,
            object_id=object_id,
            member_id=member_id,
            idempotency_key=key,
            created_at=created_at,
            expires_at=expires_at,
        )
        hold._state.adding, hold._state.db = False, connection.alias
        hold.remaining_available = balance - held
        return hold
    with transaction.atomic():
        # The hold row goes in first: the account row lock is taken last, by _apply, so it is
        # held for as little of the transaction as possible (this is the hot row).
        hold = Hold.objects.create(
            account_id=account.pk,
            amount=amount,
            operation=operation,
            content_type=content_type,
            object_id=object_id,
            member_id=member_id,
            idempotency_key=key,
            expires_at=expires_at,
        )
        after = _apply(account.pk, amount=0, held_delta=amount)
        if after is None:
            raise InsufficientTokens(required=amount, available=_available(account.pk))
        LedgerEntry.objects.create(
            account_id=account.pk,
            kind=EntryKind.HOLD,
            amount=0,
            held_delta=amount,
            balance_after=after.balance,
            held_after=after.held,
            memo=memo,
            hold=hold,
            content_type=content_type,
            object_id=object_id,
            idempotency_key=f"hold:{key}",
        )
    hold.remaining_available = after.balance - after.held
    return hold


def _replayed_hold(account_id: int, key: str, amount: int) -> Hold | None:
    hold = _by_key(Hold.objects.filter(account_id=account_id, idempotency_key=key))
    if hold is None:
        return None
    if hold.amount != amount:
        raise IdempotencyConflict(
            "This idempotency key was already used for a different amount",
            previous_amount=hold.amount,
            amount=amount,
        )
    return hold


def hold_capture(*, hold: Hold, amount: int | None = None, memo: str = "") -> Hold:
    """Charge `amount` more of an open hold (default: all that is left) and release the rest."""
    if amount is not None and not 0 < amount <= hold.amount:
        raise ValueError(f"capture must be between 1 and {hold.amount}")
    if not _hold_resolve(hold, amount, capture_memo=memo or hold.operation):
        return _resolved_replay(hold, amount)
    return hold


def hold_release(*, hold: Hold, reason: str = "") -> Hold:
    """Give back what is left of an open hold (work failed or was cancelled): all of it, or
    what its part captures did not charge (the hold then ends CAPTURED)."""
    if not _hold_resolve(hold, 0, release_memo=reason):
        return _resolved_replay(hold, 0)
    return hold


def _hold_resolve(
    hold: Hold,
    charge: int | None,
    capture_memo: str = "",
    release_memo: str = "Unused part of the hold",
) -> bool:
    """Charge `charge` more (None: all that is left) of an open hold and release the rest, as
    one step; False when the hold was no longer open (someone else resolved it: nothing
    moved). Raises HoldNotOpen when the charge exceeds what part captures left."""
    if _single_statement():
        row = pg.hold_resolve(
            hold_id=hold.pk,
            charge=charge,
            capture_memo=capture_memo[:500],
            release_memo=release_memo[:500],
        )
        if row is None:
            return False
        amount, before, charged, resolved_at = row
        if charged is None:
            raise _too_much(amount, before, charge)
        _resolved(hold, before + charged, resolved_at)
        return True
    now = timezone.now()
    with transaction.atomic():
        # The hold row is locked first and the account row last (by _apply), the order of
        # every hold movement. The status filter under that lock is what makes a hold resolve
        # only once, and it fixes what part captures have charged so far.
        row = (
            Hold.objects.select_for_update()
            .filter(pk=hold.pk, status=HoldStatus.OPEN)
            .values_list("amount", "captured")
            .first()
        )
        if row is None:
            return False
        amount, before = row
        charged = amount - before if charge is None else charge
        if before + charged > amount:
            raise _too_much(amount, before, charge)
        captured = before + charged
        status = HoldStatus.CAPTURED if captured else HoldStatus.RELEASED
        Hold.objects.filter(pk=hold.pk).update(status=status, captured=captured, resolved_at=now)
        rest = amount - captured
        after = _apply(hold.account_id, amount=-charged, held_delta=-(amount - before))
        if after is None:  # only possible if someone bypassed the services
            raise RuntimeError(f"ledger invariant broken on account {hold.account_id}")
        entries = []
        if charged:
            entries.append(
                _entry(
                    account_id=hold.account_id,
                    kind=EntryKind.CAPTURE,
                    amount=-charged,
                    held_delta=-charged,
                    after=_After(after.balance, after.held + rest),
                    key=f"capture:{hold.idempotency_key}",
                    memo=capture_memo,
                    hold=hold,
                )
            )
        if rest:
            entries.append(
                _entry(
                    account_id=hold.account_id,
                    kind=EntryKind.RELEASE,
                    amount=0,
                    held_delta=-rest,
                    after=after,
                    key=f"release:{hold.idempotency_key}",
                    memo=release_memo,
                    hold=hold,
                )
            )
        LedgerEntry.objects.bulk_create(entries)
    _resolved(hold, captured, now)
    return True


def _resolved(hold: Hold, captured: int, resolved_at: datetime) -> None:
    hold.status = HoldStatus.CAPTURED if captured else HoldStatus.RELEASED
    hold.captured, hold.resolved_at = captured, resolved_at


def _too_much(amount: int, captured: int, charge: int | None) -> HoldNotOpen:
    return HoldNotOpen(
        "Capture exceeds what is left on the hold",
        status=HoldStatus.OPEN,
        amount=amount,
        captured=captured,
        left=amount - captured,
        requested=charge,
    )


def _resolved_replay(hold: Hold, charge: int | None) -> Hold:
    """The hold, when it was already resolved the way asked (a replay: nothing moves);
    otherwise HoldNotOpen. `charge`: 0 a release, None a capture of all, else that capture."""
    current = Hold.objects.get(pk=hold.pk)
    if charge is None:
        replay = current.status == HoldStatus.CAPTURED and current.captured == current.amount
    else:
        # The final entries say how the hold was resolved; its status alone cannot tell a
        # release after part captures (CAPTURED) from a capture.
        key = current.idempotency_key
        final = dict(
            LedgerEntry.objects.filter(
                account_id=current.account_id,
                idempotency_key__in=[f"capture:{key}", f"release:{key}"],
                hold=current,
            )
            .order_by()
            .values_list("kind", "amount")
        )
        if charge:
            replay = final.get(EntryKind.CAPTURE) == -charge
        else:
            replay = EntryKind.RELEASE in final and EntryKind.CAPTURE not in final
    if replay:
        return current
    raise HoldNotOpen(
        f"Hold is already {current.status}", status=current.status, captured=current.captured
    )


def hold_refund(
    *,
    hold: Hold,
    amount: int | None = None,
    memo: str = "",
    idempotency_key: str | None = None,
    actor=None,
) -> LedgerEntry:
    """Give back some or all (amount=None: the rest) of what a captured hold charged.

    Idempotent on `idempotency_key`: a replay returns the original refund, whether it named
    an amount or asked for the rest. Without a key every call is a new refund.
    """
    key = f"refund:{idempotency_key or _new_key()}"
    replay = _replayed_refund(hold, key, amount)
    if replay:
        return replay
    current = Hold.objects.get(pk=hold.pk)
    if current.status != HoldStatus.CAPTURED:
        raise HoldNotOpen("Only a captured hold can be refunded", status=current.status)
    refund = current.captured - current.refunded if amount is None else amount
    if refund <= 0:
        raise HoldNotOpen("Nothing left to refund on this hold", refunded=current.refunded)
    try:
        with transaction.atomic():
            claimed = Hold.objects.filter(
                pk=hold.pk, status=HoldStatus.CAPTURED, refunded__lte=F("captured") - refund
            ).update(refunded=F("refunded") + refund)
            if not claimed:
                raise HoldNotOpen(
                    "Refund exceeds what this hold charged",
                    refundable=current.captured - current.refunded,
                )
            after = _apply(current.account_id, amount=refund, held_delta=0)
            if after is None:
                raise RuntimeError(f"ledger invariant broken on account {current.account_id}")
            entry = _entry(
                account_id=current.account_id,
                kind=EntryKind.REFUND,
                amount=refund,
                after=after,
                key=key,
                memo=memo,
                hold=current,
                actor=actor,
            )
            entry.save()
    except IntegrityError:  # the same key, concurrently: the other call did the refund
        replay = _replayed_refund(hold, key, amount)
        if replay:
            return replay
        raise
    return entry


def _replayed_refund(hold: Hold, key: str, amount: int | None) -> LedgerEntry | None:
    entry = _by_key(LedgerEntry.objects.filter(account_id=hold.account_id, idempotency_key=key))
    if entry is None:
        return None
    if (
        entry.kind != EntryKind.REFUND
        or entry.hold_id != hold.pk
        or (amount is not None and entry.amount != amount)
    ):
        raise IdempotencyConflict(
            "This idempotency key was already used for a different refund",
            previous_amount=entry.amount,
            amount=amount,
        )
    return entry


def holds_release_expired(*, now: datetime | None = None) -> int:
    """Release open holds past their expiry (work that never finished): what their part
    captures did not charge. Returns how many."""
    now = now or timezone.now()
    released = 0
    for hold in Hold.objects.filter(status=HoldStatus.OPEN, expires_at__lte=now).iterator():
        try:
            hold_release(hold=hold, reason="Hold expired")
            released += 1
        except HoldNotOpen:
            pass  # resolved by its owner meanwhile
    return released
