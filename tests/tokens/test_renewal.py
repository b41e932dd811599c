from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Subscription
from accounts.services import demo_user_get
from tests.factories import UserFactory
from tokens.audit import ledger_audit
from tokens.models import EntryKind, TokenAccount
from tokens.services import hold_create, month_bounds, tokens_renew

pytestmark = pytest.mark.django_db


def make(plan_code: str, credits: int) -> TokenAccount:
    account = UserFactory(plan_code=plan_code, credits=credits).token_account
    return end_period(account)


def end_period(account: TokenAccount) -> TokenAccount:
    """Move the account's period into the past, as if the month had ended."""
    start, end = month_bounds(timezone.now() - timedelta(days=40))
    TokenAccount.objects.filter(pk=account.pk).update(period_start=start, period_end=end)
    account.refresh_from_db()
    return account


def entries(account, *kinds):
    return list(account.entries.filter(kind__in=kinds).order_by("id").values_list("kind", "amount"))


def test_free_plan_does_not_roll_over():
    account = make("free", 30)
    tokens_renew(account=account)
    account.refresh_from_db()
    assert account.balance == 50
    assert entries(account, "expire", "renewal") == [("expire", -30), ("renewal", 50)]
    assert account.period_end > timezone.now()
    assert ledger_audit() == []


def test_pro_plan_rolls_over_up_to_one_month_and_expires_the_rest():
    account = make("pro", 1500)
    tokens_renew(account=account)
    account.refresh_from_db()
    assert account.balance == 1000 + 1000
    assert entries(account, "expire", "renewal") == [("expire", -500), ("renewal", 1000)]


def test_pro_plan_keeps_everything_under_the_cap():
    account = make("pro", 300)
    tokens_renew(account=account)
    account.refresh_from_db()
    assert account.balance == 1300
    assert entries(account, "expire") == []


def test_held_credits_are_not_expired():
    account = UserFactory(credits=40).token_account
    hold_create(account=account, amount=15)
    account = end_period(account)
    tokens_renew(account=account)
    account.refresh_from_db()
    assert (account.balance, account.held) == (15 + 50, 15)
    assert entries(account, "expire") == [("expire", -25)]
    assert ledger_audit() == []


def test_custom_allocation_for_enterprise():
    account = make("enterprise", 0)
    Subscription.objects.filter(user=account.user).update(custom_credits_per_month=25_000)
    tokens_renew(account=account)
    account.refresh_from_db()
    assert account.balance == 25_000


def test_renewal_is_idempotent_per_period():
    account = make("free", 10)
    tokens_renew(account=account)
    tokens_renew(account=account)
    call_command("renew_tokens")
    account.refresh_from_db()
    assert account.balance == 50
    assert len(entries(account, "renewal")) == 1


def test_the_same_period_key_cannot_be_paid_twice_even_if_the_period_is_rewound():
    account = make("free", 10)
    now = timezone.now()
    tokens_renew(account=account, now=now)
    end_period(account)  # someone rewinds the period by hand
    TokenAccount.objects.filter(pk=account.pk).update(period_end=now - timedelta(seconds=1))
    tokens_renew(account=account, now=now)
    account.refresh_from_db()
    assert len(entries(account, "renewal")) == 1
    assert ledger_audit() == []


def test_command_renews_only_accounts_whose_period_ended():
    due = make("free", 5)
    current = UserFactory(credits=5).token_account
    call_command("renew_tokens")
    due.refresh_from_db()
    current.refresh_from_db()
    assert (due.balance, current.balance) == (50, 5)


def test_using_an_account_after_its_period_renews_it_first():
    account = make("free", 2)
    hold = hold_create(account=account, amount=4)  # would fail on the old balance of 2
    account.refresh_from_db()
    assert (account.balance, account.held) == (50, 4)
    assert hold.amount == 4
    assert entries(account, "expire", "renewal") == [("expire", -2), ("renewal", 50)]


def test_demo_account_is_not_renewed():
    demo = demo_user_get()
    account = end_period(demo.token_account)
    tokens_renew(account=account)
    account.refresh_from_db()
    assert account.balance == 1000
    assert entries(account, "expire", "renewal") == []


def test_period_moves_to_the_calendar_month_of_renewal():
    account = make("free", 0)
    when = datetime(2031, 3, 15, 12, tzinfo=UTC)
    tokens_renew(account=account, now=when)
    account.refresh_from_db()
    assert (account.period_start, account.period_end) == (
        datetime(2031, 3, 1, tzinfo=UTC),
        datetime(2031, 4, 1, tzinfo=UTC),
    )
    assert account.entries.filter(
        kind=EntryKind.RENEWAL, idempotency_key="renewal:2031-03"
    ).exists()
