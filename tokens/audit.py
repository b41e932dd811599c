"""The ledger invariants, checked over every account (manage.py ledger_audit, and tests)."""

from dataclasses import dataclass

from django.db.models import Count, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Concat

from tokens.models import EntryKind, Hold, HoldStatus, LedgerEntry, TokenAccount


@dataclass(frozen=True)
class Problem:
    account_id: int
    user: str
    message: str

    def __str__(self) -> str:
        return f"account {self.account_id} ({self.user}): {self.message}"


def ledger_audit(account_ids: list[int] | None = None) -> list[Problem]:
    """Every broken invariant: balance == sum of entries; held == sum of held deltas == what
    open holds still hold (amount - captured); each hold resolved at most once and
    consistently with its status."""
    latest = LedgerEntry.objects.filter(account=OuterRef("pk")).order_by("-id")
    accounts = TokenAccount.objects.select_related("user", "organization").annotate(
        last_balance=Subquery(latest.values("balance_after")[:1]),
        last_held=Subquery(latest.values("held_after")[:1]),
    )
    if account_ids is not None:
        accounts = accounts.filter(pk__in=account_ids)
    entries = LedgerEntry.objects.values("account_id").annotate(
        amount=Sum("amount"), held=Sum("held_delta")
    )
    sums = {row["account_id"]: row for row in entries}
    open_holds = dict(
        Hold.objects.filter(status=HoldStatus.OPEN)
        .values("account_id")
        .annotate(total=Sum(F("amount") - F("captured")))
        .values_list("account_id", "total")
    )
    problems: list[Problem] = []
    for account in accounts.iterator():
        row = sums.get(account.pk, {"amount": 0, "held": 0})

        def problem(message: str, account=account) -> None:
            problems.append(Problem(account.pk, owner_label(account), message))

        if account.balance != row["amount"]:
            problem(f"balance {account.balance} != sum of entries {row['amount']}")
        if account.held != row["held"]:
            problem(f"held {account.held} != sum of held deltas {row['held']}")
        if account.held != open_holds.get(account.pk, 0):
            problem(f"held {account.held} != open holds {open_holds.get(account.pk, 0)}")
        if not 0 <= account.held <= account.balance:
            problem(f"held {account.held} outside 0..balance {account.balance}")
        last = (account.last_balance, account.last_held)
        if account.last_balance is not None and last != (account.balance, account.held):
            problem(
                f"last entry says {last[0]}/{last[1]}, "
                f"account says {account.balance}/{account.held}"
            )
    problems.extend(_hold_problems(account_ids))
    return problems


def _hold_problems(account_ids: list[int] | None) -> list[Problem]:
    # A hold's final capture is keyed `capture:{hold key}`; its part captures (charged while it
    # was open) have longer keys, `capture:{hold key}:{part}`.
    final_key = Concat(Value("capture:"), F("idempotency_key"))
    holds = Hold.objects.select_related("account__user", "account__organization").annotate(
        captures=Count("entries", filter=Q(entries__kind=EntryKind.CAPTURE)),
        finals=Count(
            "entries",
            filter=Q(entries__kind=EntryKind.CAPTURE, entries__idempotency_key=final_key),
        ),
        releases=Count("entries", filter=Q(entries__kind=EntryKind.RELEASE)),
        held_total=Coalesce(Sum("entries__held_delta"), 0),
        refunds=Coalesce(Sum("entries__amount", filter=Q(entries__kind=EntryKind.REFUND)), 0),
        charged=Coalesce(Sum("entries__amount", filter=Q(entries__kind=EntryKind.CAPTURE)), 0),
    )
    if account_ids is not None:
        holds = holds.filter(account_id__in=account_ids)
    is_open = Q(status=HoldStatus.OPEN)
    suspicious = holds.filter(
        Q(finals__gt=1)
        | Q(releases__gt=1)
        | is_open & (Q(finals__gt=0) | Q(releases__gt=0))
        | Q(status=HoldStatus.RELEASED) & (Q(captures__gt=0) | ~Q(releases=1))
        | Q(status=HoldStatus.CAPTURED, captures=0)
        | ~Q(refunds=F("refunded"))
        | ~Q(charged=-F("captured"))
    )
    problems = []
    for hold in suspicious:
        problems.append(
            Problem(
                hold.account_id,
                owner_label(hold.account),
                f"hold {hold.pk} ({hold.status}, {hold.amount}) resolved inconsistently: "
                f"{hold.captures} capture(s) ({hold.finals} final), {hold.releases} release(s), "
                f"charged {-hold.charged} vs {hold.captured}, "
                f"refunded {hold.refunds} vs {hold.refunded}",
            )
        )
    # An open hold holds what its parts have not charged; a resolved one holds nothing.
    misheld = holds.filter(
        is_open & ~Q(held_total=F("amount") - F("captured")) | ~is_open & ~Q(held_total=0)
    )
    for hold in misheld:
        expected = hold.amount - hold.captured if hold.status == HoldStatus.OPEN else 0
        problems.append(
            Problem(
                hold.account_id,
                owner_label(hold.account),
                f"hold {hold.pk} is {hold.status} but holds {hold.held_total}, not {expected}",
            )
        )
    return problems


def owner_label(account) -> str:
    """Whose account: the user's email, or the organization's slug."""
    return account.user.email if account.user_id else f"organization {account.organization.slug}"
