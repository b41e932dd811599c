"""Accounts: opening, grants and adjustments, monthly renewal, automatic refill."""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone

from tokens.models import EntryKind, LedgerEntry, TokenAccount
from tokens.services._core import (
    _movement,
    _new_key,
    _post,
    month_bounds,
)


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


def tokens_renew(*, account: TokenAccount, now: datetime | None = None) -> list[LedgerEntry]:
    """Start a new monthly period if the current one has ended: expire what does not roll over,
    then add the month's allocation. Idempotent per account and period."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = (
            TokenAccount.objects.select_for_update(of=("self",))
            .select_related("user__subscription__plan", "user__subscription__pending_plan")
            .get(pk=account.pk)
        )
        if locked.period_end > now:
            account.period_start, account.period_end = locked.period_start, locked.period_end
            return []
        start, end = month_bounds(now)
        entries = []
        user = locked.user  # None on an organization's account: it has no plan of its own yet
        subscription = getattr(user, "subscription", None) if user is not None else None
        if subscription is not None and subscription.pending_plan_id:
            # A change of plan asked for "at the next renewal" (accounts.subscription_change).
            subscription.plan = subscription.pending_plan
            subscription.pending_plan = None
            subscription.save(update_fields=["plan", "pending_plan"])
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
