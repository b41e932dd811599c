"""Reads of the ledger."""

from datetime import date, datetime

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncDate

from tokens.models import EntryKind, LedgerEntry, TokenAccount

# The entries that spend credits (captures, negative) or give spent ones back (refunds).
SPENDING_KINDS = (EntryKind.CAPTURE, EntryKind.REFUND)


def entry_list(*, account: TokenAccount, kind: str | None = None) -> QuerySet[LedgerEntry]:
    entries = LedgerEntry.objects.filter(account=account).select_related("content_type")
    if kind:
        entries = entries.filter(kind=kind)
    return entries.order_by("-id")


def entry_list_for_subject(*, account: TokenAccount, subject) -> QuerySet[LedgerEntry]:
    """The account's entries about one object (a generation's hold, capture, release…),
    oldest first."""
    meta = type(subject)._meta
    return LedgerEntry.objects.filter(
        account=account,
        content_type__app_label=meta.app_label,
        content_type__model=meta.model_name,
        object_id=str(subject.pk),
    ).order_by("id")


def spending_by_day(*, account: TokenAccount, since: datetime) -> list[tuple[date, str, int]]:
    """Credits spent per (UTC) day and operation since `since`: what captures charged, less
    what refunds gave back. The operation is the hold's, without its model
    ("image_generation:flux-pro" counts as "image_generation")."""
    rows = (
        LedgerEntry.objects.filter(
            account=account, kind__in=SPENDING_KINDS, created_at__gte=since, hold__isnull=False
        )
        .annotate(day=TruncDate("created_at"))
        .values("day", "hold__operation")
        .annotate(total=Sum("amount"))
    )
    spent: dict[tuple[date, str], int] = {}
    for row in rows:
        key = (row["day"], row["hold__operation"].split(":", 1)[0])
        spent[key] = spent.get(key, 0) - row["total"]
    return sorted((day, operation, total) for (day, operation), total in spent.items() if total)
