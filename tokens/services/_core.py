"""Primitives of every movement: the guarded update, the entry, key look-ups."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from core.exceptions import IdempotencyConflict
from tokens.exceptions import InsufficientTokens
from tokens.models import Hold, LedgerEntry, TokenAccount


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


def _single_statement() -> bool:
    return connection.vendor == "postgresql" and settings.TOKENS_SINGLE_STATEMENT


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
