"""Reads of the ledger."""

from django.db.models import QuerySet

from tokens.models import LedgerEntry, TokenAccount


def entry_list(*, account: TokenAccount, kind: str | None = None) -> QuerySet[LedgerEntry]:
    entries = LedgerEntry.objects.filter(account=account).select_related("content_type")
    if kind:
        entries = entries.filter(kind=kind)
    return entries.order_by("-id")
