from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from core.exceptions import IdempotencyConflict
from tests.factories import UserFactory, staff_user
from tokens.audit import ledger_audit
from tokens.exceptions import HoldNotOpen, InsufficientTokens
from tokens.models import EntryKind, Hold, HoldStatus, LedgerEntry, TokenAccount
from tokens.services import (
    hold_capture,
    hold_create,
    hold_refund,
    hold_release,
    holds_release_expired,
    tokens_adjust,
    tokens_grant,
)

pytestmark = pytest.mark.django_db


def account_with(credits: int) -> TokenAccount:
    return UserFactory(credits=credits).token_account


def numbers(account: TokenAccount) -> tuple[int, int]:
    account.refresh_from_db()
    return account.balance, account.held


def kinds(account: TokenAccount) -> list[str]:
    return list(account.entries.order_by("id").values_list("kind", flat=True))


def test_new_account_has_its_first_grant_on_the_ledger():
    account = account_with(50)
    assert numbers(account) == (50, 0)
    entry = account.entries.get()
    assert (entry.kind, entry.amount, entry.balance_after) == (EntryKind.GRANT, 50, 50)
    assert ledger_audit() == []


def test_hold_reserves_without_spending():
    account = account_with(50)
    hold = hold_create(account=account, amount=12, operation="image_generation")
    assert numbers(account) == (50, 12)
    assert hold.status == HoldStatus.OPEN
    entry = account.entries.get(kind=EntryKind.HOLD)
    assert (entry.amount, entry.held_delta, entry.balance_after, entry.held_after) == (
        0,
        12,
        50,
        12,
    )
    assert entry.hold == hold


def test_insufficient_credits_raises_with_required_and_available_and_holds_nothing():
    account = account_with(10)
    hold_create(account=account, amount=7)
    with pytest.raises(InsufficientTokens) as raised:
        hold_create(account=account, amount=4)
    assert (raised.value.required, raised.value.available) == (4, 3)
    assert numbers(account) == (10, 7)
    assert Hold.objects.filter(account=account).count() == 1
    assert kinds(account) == ["grant", "hold"]


def test_capture_charges_the_hold():
    account = account_with(50)
    hold = hold_capture(hold=hold_create(account=account, amount=8))
    assert numbers(account) == (42, 0)
    assert (hold.status, hold.captured) == (HoldStatus.CAPTURED, 8)
    capture = account.entries.get(kind=EntryKind.CAPTURE)
    assert (capture.amount, capture.held_delta, capture.balance_after, capture.held_after) == (
        -8,
        -8,
        42,
        0,
    )
    assert ledger_audit() == []


def test_partial_capture_releases_the_rest_in_the_same_step():
    account = account_with(50)
    hold = hold_create(account=account, amount=16)
    hold_capture(hold=hold, amount=4)
    assert numbers(account) == (46, 0)
    assert kinds(account) == ["grant", "hold", "capture", "release"]
    capture, release = account.entries.filter(hold=hold).exclude(kind="hold").order_by("id")
    assert (capture.amount, capture.held_delta, capture.balance_after, capture.held_after) == (
        -4,
        -4,
        46,
        12,
    )
    assert (release.amount, release.held_delta, release.balance_after, release.held_after) == (
        0,
        -12,
        46,
        0,
    )
    assert ledger_audit() == []


def test_capture_more_than_held_is_refused():
    hold = hold_create(account=account_with(50), amount=5)
    with pytest.raises(ValueError):
        hold_capture(hold=hold, amount=6)
    hold.refresh_from_db()
    assert hold.status == HoldStatus.OPEN


def test_release_gives_everything_back():
    account = account_with(50)
    hold_release(hold=hold_create(account=account, amount=20), reason="provider failed")
    assert numbers(account) == (50, 0)
    release = account.entries.get(kind=EntryKind.RELEASE)
    assert (release.held_delta, release.memo) == (-20, "provider failed")


def test_a_hold_resolves_once():
    account = account_with(50)
    hold = hold_create(account=account, amount=5)
    hold_capture(hold=hold)
    hold_capture(hold=hold)  # the same resolution again: a replay, nothing moves
    assert numbers(account) == (45, 0)
    with pytest.raises(HoldNotOpen):
        hold_release(hold=hold)
    with pytest.raises(HoldNotOpen):
        hold_capture(hold=hold, amount=3)
    assert account.entries.filter(kind=EntryKind.CAPTURE).count() == 1
    assert ledger_audit() == []


def test_release_twice_is_a_replay_and_capture_after_release_is_refused():
    account = account_with(50)
    hold = hold_create(account=account, amount=5)
    hold_release(hold=hold)
    hold_release(hold=hold)
    with pytest.raises(HoldNotOpen):
        hold_capture(hold=hold)
    assert numbers(account) == (50, 0)
    assert account.entries.filter(kind=EntryKind.RELEASE).count() == 1


def test_replayed_hold_key_charges_nothing_twice():
    account = account_with(50)
    first = hold_create(account=account, amount=10, idempotency_key="gen-1")
    again = hold_create(account=account, amount=10, idempotency_key="gen-1")
    assert again.pk == first.pk
    assert numbers(account) == (50, 10)
    assert account.entries.filter(kind=EntryKind.HOLD).count() == 1


def test_same_hold_key_with_a_different_amount_is_rejected():
    account = account_with(50)
    hold_create(account=account, amount=10, idempotency_key="gen-1")
    with pytest.raises(IdempotencyConflict):
        hold_create(account=account, amount=11, idempotency_key="gen-1")
    assert numbers(account) == (50, 10)


def test_keys_are_per_account():
    first, second = account_with(50), account_with(50)
    hold_create(account=first, amount=10, idempotency_key="same")
    hold_create(account=second, amount=10, idempotency_key="same")
    assert numbers(first) == (50, 10)
    assert numbers(second) == (50, 10)


def test_grant_is_idempotent_on_its_key_and_rejects_a_different_amount():
    account = account_with(0)
    tokens_grant(account=account, amount=30, idempotency_key="promo-1")
    tokens_grant(account=account, amount=30, idempotency_key="promo-1")
    assert numbers(account) == (30, 0)
    with pytest.raises(IdempotencyConflict):
        tokens_grant(account=account, amount=31, idempotency_key="promo-1")
    assert numbers(account) == (30, 0)


@pytest.mark.parametrize("amount", [0, -5])
def test_grant_must_be_positive(amount):
    account = account_with(10)
    with pytest.raises(ValueError):
        tokens_grant(account=account, amount=amount)
    assert numbers(account) == (10, 0)


def test_adjust_records_the_staff_member_and_reason():
    account = account_with(10)
    staff = staff_user()
    entry = tokens_adjust(account=account, amount=-4, actor=staff, memo="duplicate charge")
    assert numbers(account) == (6, 0)
    assert (entry.kind, entry.actor, entry.memo, entry.balance_after) == (
        "adjust",
        staff,
        "duplicate charge",
        6,
    )


def test_adjust_cannot_take_held_or_missing_credits():
    account = account_with(10)
    hold_create(account=account, amount=8)
    with pytest.raises(InsufficientTokens):
        tokens_adjust(account=account, amount=-3, actor=staff_user(), memo="too much")
    assert numbers(account) == (10, 8)


def test_adjust_needs_a_reason():
    with pytest.raises(ValueError):
        tokens_adjust(account=account_with(10), amount=5, actor=None, memo="  ")


def test_refund_gives_back_what_a_capture_charged_and_no_more():
    account = account_with(50)
    hold = hold_capture(hold=hold_create(account=account, amount=10))
    hold_refund(hold=hold, amount=4, idempotency_key="r1")
    hold_refund(hold=hold, amount=4, idempotency_key="r1")  # replay
    assert numbers(account) == (44, 0)
    with pytest.raises(HoldNotOpen):
        hold_refund(hold=hold, amount=7, idempotency_key="r2")
    hold_refund(hold=hold, idempotency_key="r3")  # the rest: 6
    assert numbers(account) == (50, 0)
    with pytest.raises(HoldNotOpen):
        hold_refund(hold=hold, idempotency_key="r4")
    assert ledger_audit() == []


def test_refund_of_the_rest_replayed_with_its_key_returns_the_first_refund():
    account = account_with(50)
    hold = hold_capture(hold=hold_create(account=account, amount=10))
    first = hold_refund(hold=hold, idempotency_key="bad-result")
    again = hold_refund(hold=hold, idempotency_key="bad-result")
    assert again.pk == first.pk and first.amount == 10
    assert numbers(account) == (50, 0)
    with pytest.raises(IdempotencyConflict):
        hold_refund(hold=hold, amount=3, idempotency_key="bad-result")


def test_refunds_without_a_key_are_each_new_until_nothing_is_left():
    account = account_with(50)
    hold = hold_capture(hold=hold_create(account=account, amount=10))
    hold_refund(hold=hold, amount=4)
    hold_refund(hold=hold)  # the rest: 6
    with pytest.raises(HoldNotOpen):
        hold_refund(hold=hold)
    assert numbers(account) == (50, 0)
    assert account.entries.filter(kind=EntryKind.REFUND).count() == 2
    assert ledger_audit() == []


def test_refund_of_an_open_hold_is_refused():
    account = account_with(50)
    hold = hold_create(account=account, amount=10)
    with pytest.raises(HoldNotOpen):
        hold_refund(hold=hold, amount=1)
    assert numbers(account) == (50, 10)


def test_expired_holds_are_released():
    account = account_with(50)
    stale = hold_create(account=account, amount=10, ttl=timedelta(seconds=-1))
    fresh = hold_create(account=account, amount=5)
    assert holds_release_expired() == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, fresh.status) == (HoldStatus.RELEASED, HoldStatus.OPEN)
    assert numbers(account) == (50, 5)


def test_the_database_refuses_held_above_balance_even_past_the_services():
    account = account_with(10)
    with pytest.raises(IntegrityError), transaction.atomic():
        TokenAccount.objects.filter(pk=account.pk).update(held=11)
    with pytest.raises(IntegrityError), transaction.atomic():
        TokenAccount.objects.filter(pk=account.pk).update(held=-1)


def test_ledger_entries_are_append_only():
    entry = account_with(10).entries.get()
    entry.memo = "rewritten"
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()
    assert LedgerEntry.objects.get(pk=entry.pk).memo == "Welcome credits"


def test_audit_names_an_account_whose_balance_was_changed_behind_the_ledger():
    account = account_with(10)
    TokenAccount.objects.filter(pk=account.pk).update(balance=99)
    problems = ledger_audit()
    assert problems and all(p.account_id == account.pk for p in problems)
    assert "balance 99 != sum of entries 10" in str(problems[0])


def test_audit_finds_a_hold_resolved_behind_the_services():
    account = account_with(10)
    hold = hold_create(account=account, amount=4)
    Hold.objects.filter(pk=hold.pk).update(status=HoldStatus.CAPTURED)
    messages = [str(p) for p in ledger_audit()]
    assert any(f"hold {hold.pk}" in m for m in messages)
    assert any("open holds 0" in m for m in messages)


def test_month_bounds_are_utc_calendar_months():
    from tokens.services import month_bounds

    start, end = month_bounds(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    assert (start, end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def test_ledger_audit_command_is_quiet_and_zero_when_the_ledger_adds_up(capsys):
    from django.core.management import call_command

    account_with(10)
    call_command("ledger_audit")
    assert "ledger audit clean" in capsys.readouterr().out


def test_ledger_audit_command_fails_and_names_the_broken_account(capsys):
    from django.core.management import CommandError, call_command

    good, bad = account_with(10), account_with(20)
    TokenAccount.objects.filter(pk=bad.pk).update(balance=25)
    with pytest.raises(CommandError, match="ledger audit failed"):
        call_command("ledger_audit")
    errors = capsys.readouterr().err
    assert f"account {bad.pk} ({bad.user.email})" in errors
    assert f"account {good.pk} " not in errors
