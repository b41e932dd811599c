"""Every write to balances goes through here.

Rules (DESIGN.md "Token ledger"):
- balances change only by one guarded `UPDATE … RETURNING` (`_apply`), never read-modify-write;
  the guard keeps `0 <= held <= balance`, which the database also enforces with CHECKs;
- every change appends a LedgerEntry in the same transaction, with the balance it left;
- each call is idempotent on its key: a replay returns the original result and moves nothing,
  the same key with different numbers raises IdempotencyConflict;
- a hold resolves once: the open -> captured/released transition is a conditional update.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Model
from django.utils import timezone

from core.exceptions import IdempotencyConflict
from tokens import pg
from tokens.exceptions import HoldNotOpen, InsufficientTokens
from tokens.models import EntryKind, Hold, HoldStatus, LedgerEntry, TokenAccount

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _After:
    balance: int
    held: int


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) that contains `moment`: [first day, first day of next)."""
    start = moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _new_key() -> str:
    return uuid.uuid4().hex


def _apply(account_id: int, *, amount: int, held_delta: int) -> _After | None:
    """balance += amount and held += held_delta in one statement, if 0 <= held <= balance holds
    afterwards; returns the new numbers, or None (nothing changed) when the guard refused."""
    table = TokenAccount._meta.db_table
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    # Django's update() cannot return values; RETURNING saves the read (and the race) that
    # balance_after would otherwise need. PostgreSQL and SQLite >= 3.35 both support it.
    sql = (
        f"UPDATE {table} SET balance = balance + %s, held = held + %s, updated_at = %s "
        f"WHERE id = %s AND held + %s >= 0 AND balance + %s >= held + %s "
        f"RETURNING balance, held"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [amount, held_delta, now, account_id, held_delta, amount, held_delta])
        row = cursor.fetchone()
    return _After(*row) if row else None


def _entry(
    *,
    account_id: int,
    kind: str,
    amount: int,
    held_delta: int = 0,
    after: _After,
    key: str,
    memo: str = "",
    hold: Hold | None = None,
    actor=None,
    subject: Model | None = None,
) -> LedgerEntry:
    if subject is None and hold is not None:  # a hold's movements name what it pays for
        content_type_id, object_id = hold.content_type_id, hold.object_id
    else:
        content_type_id = ContentType.objects.get_for_model(subject).pk if subject else None
        object_id = str(subject.pk) if subject is not None else ""
    return LedgerEntry(
        account_id=account_id,
        kind=kind,
        amount=amount,
        held_delta=held_delta,
        balance_after=after.balance,
        held_after=after.held,
        memo=memo[:500],
        hold=hold,
        actor=actor,
        content_type_id=content_type_id,
        object_id=object_id,
        idempotency_key=key,
    )


def _by_key(queryset):
    """The row a unique key names, or None. Not .first(): its ORDER BY id can make PostgreSQL
    walk the primary key of a hot account's rows instead of using the (account, key) index."""
    return next(iter(queryset.order_by()[:1]), None)


def _available(account_id: int) -> int:
    balance, held = TokenAccount.objects.values_list("balance", "held").get(pk=account_id)
    return balance - held


# --- Accounts ------------------------------------------------------------------------------


def account_open(
    *,
    user,
    initial_credits: int,
    memo: str = "Welcome credits",
    refill_below: int | None = None,
    refill_to: int | None = None,
) -> TokenAccount:
    """The user's account, created with its first grant; returns the existing one if any."""
    existing = TokenAccount.objects.filter(user=user).first()
    if existing:
        return existing
    start, end = month_bounds(timezone.now())
    try:
        with transaction.atomic():
            account = TokenAccount.objects.create(
                user=user,
                period_start=start,
                period_end=end,
                refill_below=refill_below,
                refill_to=refill_to,
            )
            if initial_credits:
                tokens_grant(
                    account=account, amount=initial_credits, memo=memo, idempotency_key="signup"
                )
    except IntegrityError:
        return TokenAccount.objects.get(user=user)
    # Refresh in place: user.token_account is this same object, and still says balance 0.
    account.refresh_from_db()
    return account


def account_for_user(*, user) -> TokenAccount:
    """The user's account, brought up to date: opened on first use (a superuser made by hand
    has none yet) and renewed if its period has ended."""
    account = TokenAccount.objects.filter(user=user).first()
    if account is None:
        from accounts.services import subscription_get  # accounts builds on tokens, not back

        subscription = subscription_get(user=user)
        account = account_open(user=user, initial_credits=subscription.credits_per_month)
    if account.period_end <= timezone.now():
        tokens_renew(account=account)
        account.refresh_from_db()
    return account


def tokens_grant(
    *,
    account: TokenAccount,
    amount: int,
    memo: str = "",
    kind: str = EntryKind.GRANT,
    actor=None,
    idempotency_key: str | None = None,
    subject: Model | None = None,
) -> LedgerEntry:
    """Add credits (grant, purchase or renewal)."""
    if amount <= 0:
        raise ValueError("a grant must be positive")
    if kind not in (EntryKind.GRANT, EntryKind.PURCHASE, EntryKind.RENEWAL):
        raise ValueError(f"{kind} is not a kind of grant")
    return _post(
        account=account,
        kind=kind,
        amount=amount,
        memo=memo,
        actor=actor,
        key=f"{kind}:{idempotency_key or _new_key()}",
        subject=subject,
    )


def tokens_adjust(
    *, account: TokenAccount, amount: int, actor, memo: str, idempotency_key: str | None = None
) -> LedgerEntry:
    """A correction by support staff, up or down; never below what is held."""
    if amount == 0:
        raise ValueError("an adjustment must not be zero")
    if not memo.strip():
        raise ValueError("an adjustment needs a reason")
    return _post(
        account=account,
        kind=EntryKind.ADJUST,
        amount=amount,
        memo=memo,
        actor=actor,
        key=f"adjust:{idempotency_key or _new_key()}",
    )


def _post(*, account, kind, amount, memo, actor, key, subject=None) -> LedgerEntry:
    """A plain balance movement with its entry; idempotent on `key`."""
    replay = _replayed_entry(account.pk, key, kind, amount)
    if replay:
        return replay
    try:
        with transaction.atomic():
            after = _apply(account.pk, amount=amount, held_delta=0)
            if after is None:
                raise InsufficientTokens(required=-amount, available=_available(account.pk))
            entry = _entry(
                account_id=account.pk,
                kind=kind,
                amount=amount,
                after=after,
                key=key,
                memo=memo,
                actor=actor,
                subject=subject,
            )
            entry.save()
    except IntegrityError:
        # A concurrent call with the same key committed first; it did the work.
        replay = _replayed_entry(account.pk, key, kind, amount)
        if replay:
            return replay
        raise
    return entry


def _replayed_entry(account_id: int, key: str, kind: str, amount: int) -> LedgerEntry | None:
    entry = _by_key(LedgerEntry.objects.filter(account_id=account_id, idempotency_key=key))
    if entry is None:
        return None
    if entry.kind != kind or entry.amount != amount:
        raise IdempotencyConflict(
            "This idempotency key was already used for a different amount",
            previous_amount=entry.amount,
            amount=amount,
        )
    return entry


# --- Holds ---------------------------------------------------------------------------------


def hold_create(
    *,
    account: TokenAccount,
    amount: int,
    idempotency_key: str | None = None,
    operation: str = "",
    memo: str = "",
    subject: Model | None = None,
    ttl: timedelta | None = None,
) -> Hold:
    """Reserve credits for work; raises InsufficientTokens with required/available."""
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


def _hold_insert(*, account, amount, key, operation, memo, subject, expires_at) -> Hold:
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


def _single_statement() -> bool:
    return connection.vendor == "postgresql" and settings.TOKENS_SINGLE_STATEMENT


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
    """Charge `amount` (default: all) of an open hold and release the rest."""
    charge = hold.amount if amount is None else amount
    if not 0 < charge <= hold.amount:
        raise ValueError(f"capture must be between 1 and {hold.amount}")
    if not _hold_resolve(hold, charge, capture_memo=memo or hold.operation):
        return _resolved_replay(hold, HoldStatus.CAPTURED, captured=charge)
    return hold


def hold_release(*, hold: Hold, reason: str = "") -> Hold:
    """Give an open hold back in full (work failed or was cancelled)."""
    if not _hold_resolve(hold, 0, release_memo=reason):
        return _resolved_replay(hold, HoldStatus.RELEASED)
    return hold


def _hold_resolve(
    hold: Hold, charge: int, capture_memo: str = "", release_memo: str = "Unused part of the hold"
) -> bool:
    """Charge `charge` of an open hold and release the rest, as one step; False when the hold
    was no longer open (someone else resolved it: nothing moved)."""
    status = HoldStatus.CAPTURED if charge else HoldStatus.RELEASED
    if _single_statement():
        row = pg.hold_resolve(
            hold_id=hold.pk,
            charge=charge,
            capture_memo=capture_memo[:500],
            release_memo=release_memo[:500],
        )
        if row is None:
            return False
        hold.status, hold.captured, hold.resolved_at = status, charge, row[2]
        return True
    now = timezone.now()
    with transaction.atomic():
        # Claiming the hold is the conditional update that makes a hold resolve only once.
        claimed = Hold.objects.filter(pk=hold.pk, status=HoldStatus.OPEN).update(
            status=status, captured=charge, resolved_at=now
        )
        if not claimed:
            return False
        rest = hold.amount - charge
        after = _apply(hold.account_id, amount=-charge, held_delta=-hold.amount)
        if after is None:  # only possible if someone bypassed the services
            raise RuntimeError(f"ledger invariant broken on account {hold.account_id}")
        entries = []
        if charge:
            entries.append(
                _entry(
                    account_id=hold.account_id,
                    kind=EntryKind.CAPTURE,
                    amount=-charge,
                    held_delta=-charge,
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
    hold.status, hold.captured, hold.resolved_at = status, charge, now
    return True


def _resolved_replay(hold: Hold, wanted: str, **fields) -> Hold:
    current = Hold.objects.get(pk=hold.pk)
    if current.status == wanted and all(getattr(current, k) == v for k, v in fields.items()):
        return current  # the same resolution again: nothing to do
    raise HoldNotOpen(
        f"Hold is already {current.status}", status=current.status, captured=current.captured
    )


def hold_refund(
    *, hold: Hold, amount: int | None = None, memo: str = "", idempotency_key: str | None = None
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
    """Release open holds past their expiry (work that never finished). Returns how many."""
    now = now or timezone.now()
    released = 0
    for hold in Hold.objects.filter(status=HoldStatus.OPEN, expires_at__lte=now).iterator():
        try:
            hold_release(hold=hold, reason="Hold expired")
            released += 1
        except HoldNotOpen:
            pass  # resolved by its owner meanwhile
    return released


# --- Renewal and the demo account ----------------------------------------------------------


def tokens_renew(*, account: TokenAccount, now: datetime | None = None) -> list[LedgerEntry]:
    """Start a new monthly period if the current one has ended: expire what does not roll over,
    then add the month's allocation. Idempotent per account and period."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = (
            TokenAccount.objects.select_for_update(of=("self",))
            .select_related("user__subscription__plan")
            .get(pk=account.pk)
        )
        if locked.period_end > now:
            account.period_start, account.period_end = locked.period_start, locked.period_end
            return []
        start, end = month_bounds(now)
        entries = []
        user = locked.user
        subscription = getattr(user, "subscription", None)
        period = f"{start:%Y-%m}"
        # A period is settled once, as a whole: if either of its entries exists (the period was
        # rewound by hand, or a second renewal raced in), only the dates move.
        settled = LedgerEntry.objects.filter(
            account_id=locked.pk, idempotency_key__in=[f"expire:{period}", f"renewal:{period}"]
        ).exists()
        if subscription is not None and not user.is_demo and not settled:
            available = locked.balance - locked.held
            carry = min(available, subscription.plan.rollover_cap)
            if available - carry > 0:
                entries.append(
                    _movement(
                        locked,
                        EntryKind.EXPIRE,
                        -(available - carry),
                        f"expire:{period}",
                        f"Unused credits expired at the end of the period (kept {carry})",
                    )
                )
            if subscription.credits_per_month:
                entries.append(
                    _movement(
                        locked,
                        EntryKind.RENEWAL,
                        subscription.credits_per_month,
                        f"renewal:{period}",
                        f"Monthly credits, {subscription.plan.name} plan",
                    )
                )
        locked.period_start, locked.period_end = start, end
        locked.save(update_fields=["period_start", "period_end"])
    account.period_start, account.period_end = start, end
    return [e for e in entries if e is not None]


def _movement(account: TokenAccount, kind: str, amount: int, key: str, memo: str):
    """A balance movement inside a transaction that already holds the account lock."""
    if LedgerEntry.objects.filter(account_id=account.pk, idempotency_key=key).exists():
        return None
    after = _apply(account.pk, amount=amount, held_delta=0)
    if after is None:
        raise RuntimeError(f"ledger invariant broken on account {account.pk}")
    entry = _entry(account_id=account.pk, kind=kind, amount=amount, after=after, key=key, memo=memo)
    entry.save()
    return entry


def _refill_if_low(account: TokenAccount) -> bool:
    """Top an auto-refill account (the shared demo) back up when it runs low: on use, not on
    a timer. Returns True when credits were added."""
    if account.refill_below is None or account.refill_to is None:
        return False
    with transaction.atomic():
        locked = TokenAccount.objects.select_for_update().get(pk=account.pk)
        available = locked.balance - locked.held
        # Checked under the row lock, so two requests that both saw it low refill it once.
        if available >= locked.refill_below or locked.refill_to <= available:
            return False
        _movement(
            locked,
            EntryKind.GRANT,
            locked.refill_to - available,
            f"grant:refill:{_new_key()}",
            "Automatic refill",
        )
    return True


def account_refill_if_low(*, account: TokenAccount) -> bool:
    return _refill_if_low(account)
