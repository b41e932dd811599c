"""A hold captured in parts: one hold for a whole pipeline, each step charging its own part.

Runs on both ledger paths (tests/tokens/conftest.py): the final resolution is one statement on
PostgreSQL and portable ORM statements elsewhere; part captures are the same on both.
"""

from datetime import timedelta

import pytest
from django.db import transaction

from core.exceptions import IdempotencyConflict
from tests.factories import UserFactory
from tests.tokens.test_concurrency import run_together
from tokens.audit import ledger_audit
from tokens.exceptions import HoldNotOpen
from tokens.models import EntryKind, Hold, HoldStatus, LedgerEntry, TokenAccount
from tokens.services import (
    hold_capture,
    hold_capture_part,
    hold_create,
    hold_refund,
    hold_release,
    holds_release_expired,
)

pytestmark = pytest.mark.django_db


def account_with(credits: int) -> TokenAccount:
    return UserFactory(credits=credits).token_account


def numbers(account: TokenAccount) -> tuple[int, int]:
    account.refresh_from_db()
    return account.balance, account.held


def state(hold: Hold) -> tuple[str, int]:
    hold.refresh_from_db()
    return hold.status, hold.captured


def movements(hold: Hold) -> list[tuple[str, int, int, int, int, str]]:
    """(kind, amount, held delta, balance after, held after, key) of the hold's entries."""
    return list(
        hold.entries.order_by("id").values_list(
            "kind", "amount", "held_delta", "balance_after", "held_after", "idempotency_key"
        )
    )


def test_parts_add_up_and_the_hold_closes_itself_when_fully_charged():
    account = account_with(50)
    hold = hold_create(account=account, amount=10, idempotency_key="pipe-1", operation="pipe")
    first = hold_capture_part(hold=hold, amount=3, key="step-1")
    assert (first.kind, first.amount, first.held_delta) == (EntryKind.CAPTURE, -3, -3)
    assert (first.balance_after, first.held_after, first.hold_id) == (47, 7, hold.pk)
    assert (first.idempotency_key, first.memo) == ("capture:pipe-1:step-1", "pipe")
    assert (hold.status, hold.captured) == (HoldStatus.OPEN, 3)
    assert numbers(account) == (47, 7)
    assert ledger_audit() == []

    hold_capture_part(hold=hold, amount=3, key="step-2", memo="upscale")
    assert state(hold) == (HoldStatus.OPEN, 6) and hold.resolved_at is None
    assert numbers(account) == (44, 4)
    assert ledger_audit() == []

    hold_capture_part(hold=hold, amount=4, key="step-3")
    assert (hold.status, hold.captured) == (HoldStatus.CAPTURED, 10)
    assert state(hold) == (HoldStatus.CAPTURED, 10) and hold.resolved_at is not None
    assert numbers(account) == (40, 0)
    assert [m[0] for m in movements(hold)] == ["hold", "capture", "capture", "capture"]
    assert ledger_audit() == []


def test_a_fully_charged_hold_accepts_no_more_parts_nor_a_release():
    account = account_with(50)
    hold = hold_create(account=account, amount=6)
    hold_capture_part(hold=hold, amount=6, key="all")
    with pytest.raises(HoldNotOpen):
        hold_capture_part(hold=hold, amount=1, key="more")
    with pytest.raises(HoldNotOpen):
        hold_release(hold=hold)  # nothing was left to release: it was captured
    assert hold_capture(hold=hold).captured == 6  # "capture all" is what happened: a replay
    assert numbers(account) == (44, 0)
    assert hold.entries.count() == 2
    assert ledger_audit() == []


def test_release_after_parts_gives_back_exactly_the_rest_and_ends_captured():
    account = account_with(50)
    hold = hold_create(account=account, amount=10, idempotency_key="pipe")
    hold_capture_part(hold=hold, amount=2, key="a")
    hold_capture_part(hold=hold, amount=3, key="b")
    released = hold_release(hold=hold, reason="step c failed")
    assert (released.status, released.captured) == (HoldStatus.CAPTURED, 5)
    assert state(hold) == (HoldStatus.CAPTURED, 5) and hold.resolved_at is not None
    assert numbers(account) == (45, 0)
    assert movements(hold)[-1] == ("release", 0, -5, 45, 0, "release:pipe")
    assert not hold.entries.filter(idempotency_key="capture:pipe").exists()
    assert ledger_audit() == []

    again = hold_release(hold=hold, reason="step c failed")  # a replay: nothing moves
    assert (again.status, again.captured) == (HoldStatus.CAPTURED, 5)
    with pytest.raises(HoldNotOpen):
        hold_capture(hold=hold, amount=1)
    with pytest.raises(HoldNotOpen):
        hold_capture(hold=hold)
    assert numbers(account) == (45, 0)

    # What the parts charged can be refunded like any capture.
    hold_refund(hold=hold, idempotency_key="sorry")
    assert numbers(account) == (50, 0)
    assert ledger_audit() == []


def test_release_with_no_parts_is_still_a_plain_release():
    account = account_with(50)
    hold = hold_create(account=account, amount=10, idempotency_key="plain")
    released = hold_release(hold=hold)
    assert (released.status, released.captured) == (HoldStatus.RELEASED, 0)
    assert state(hold) == (HoldStatus.RELEASED, 0)
    assert numbers(account) == (50, 0)
    assert movements(hold) == [
        ("hold", 0, 10, 50, 10, "hold:plain"),
        ("release", 0, -10, 50, 0, "release:plain"),
    ]
    assert hold_release(hold=hold).status == HoldStatus.RELEASED  # replay
    assert ledger_audit() == []


def test_capture_of_the_rest_after_parts_charges_what_is_left():
    account = account_with(50)
    hold = hold_create(account=account, amount=10, idempotency_key="pipe")
    hold_capture_part(hold=hold, amount=4, key="a")
    captured = hold_capture(hold=hold, memo="done")
    assert (captured.status, captured.captured) == (HoldStatus.CAPTURED, 10)
    assert state(hold) == (HoldStatus.CAPTURED, 10)
    assert numbers(account) == (40, 0)
    assert movements(hold)[1:] == [
        ("capture", -4, -4, 46, 6, "capture:pipe:a"),
        ("capture", -6, -6, 40, 0, "capture:pipe"),
    ]
    assert hold_capture(hold=hold).captured == 10  # replay
    assert numbers(account) == (40, 0)
    assert ledger_audit() == []


def test_capture_of_an_amount_after_parts_charges_that_more_and_releases_the_rest():
    account = account_with(50)
    hold = hold_create(account=account, amount=10, idempotency_key="pipe")
    hold_capture_part(hold=hold, amount=4, key="a")
    hold_capture(hold=hold, amount=3)
    assert state(hold) == (HoldStatus.CAPTURED, 7)
    assert numbers(account) == (43, 0)
    assert movements(hold)[2:] == [
        ("capture", -3, -3, 43, 3, "capture:pipe"),
        ("release", 0, -3, 43, 0, "release:pipe"),
    ]
    assert hold_capture(hold=hold, amount=3).captured == 7  # replay
    with pytest.raises(HoldNotOpen):
        hold_capture(hold=hold, amount=4)
    with pytest.raises(HoldNotOpen):
        hold_release(hold=hold)
    assert numbers(account) == (43, 0)
    assert ledger_audit() == []


def test_a_final_capture_beyond_what_parts_left_is_refused_and_moves_nothing():
    account = account_with(50)
    hold = hold_create(account=account, amount=10)
    hold_capture_part(hold=hold, amount=8, key="a")
    with pytest.raises(HoldNotOpen) as refused:
        hold_capture(hold=hold, amount=3)
    assert refused.value.details["left"] == 2
    assert refused.value.details["requested"] == 3
    assert state(hold) == (HoldStatus.OPEN, 8)
    assert numbers(account) == (42, 2)
    assert hold.entries.count() == 2
    hold_capture(hold=hold, amount=2)
    assert state(hold) == (HoldStatus.CAPTURED, 10)
    assert ledger_audit() == []


def test_a_part_bigger_than_what_is_left_is_refused_and_moves_nothing():
    account = account_with(50)
    hold = hold_create(account=account, amount=10)
    hold_capture_part(hold=hold, amount=7, key="a")
    with pytest.raises(HoldNotOpen) as refused:
        hold_capture_part(hold=hold, amount=4, key="b")
    assert refused.value.details == {
        "status": HoldStatus.OPEN,
        "amount": 10,
        "captured": 7,
        "left": 3,
        "requested": 4,
    }
    with pytest.raises(HoldNotOpen):
        hold_capture_part(hold=hold_create(account=account, amount=5), amount=6, key="x")
    assert state(hold) == (HoldStatus.OPEN, 7)
    assert numbers(account) == (43, 8)
    assert not LedgerEntry.objects.filter(idempotency_key__endswith=":b").exists()
    hold_capture_part(hold=hold, amount=3, key="b")  # the key was not used up by the refusal
    assert state(hold) == (HoldStatus.CAPTURED, 10)
    assert ledger_audit() == []


@pytest.mark.parametrize("amount", [0, -2])
def test_a_part_must_be_positive(amount):
    hold = hold_create(account=account_with(50), amount=10)
    with pytest.raises(ValueError):
        hold_capture_part(hold=hold, amount=amount, key="a")
    assert state(hold) == (HoldStatus.OPEN, 0)


@pytest.mark.parametrize("resolve", [hold_release, hold_capture])
def test_a_part_on_a_resolved_hold_is_refused(resolve):
    account = account_with(50)
    hold = hold_create(account=account, amount=10)
    resolve(hold=hold)
    before = numbers(account)
    with pytest.raises(HoldNotOpen) as refused:
        hold_capture_part(hold=hold, amount=1, key="late")
    assert refused.value.details["status"] == hold.status
    assert numbers(account) == before
    assert ledger_audit() == []


def test_a_replayed_part_returns_the_same_entry_and_moves_nothing():
    account = account_with(50)
    hold = hold_create(account=account, amount=10)
    first = hold_capture_part(hold=hold, amount=4, key="a")
    again = hold_capture_part(hold=hold, amount=4, key="a")
    assert again.pk == first.pk
    assert state(hold) == (HoldStatus.OPEN, 4)
    assert numbers(account) == (46, 6)
    # Still a replay once the hold has been resolved.
    hold_release(hold=hold)
    assert hold_capture_part(hold=hold, amount=4, key="a").pk == first.pk
    assert numbers(account) == (46, 0)
    assert ledger_audit() == []


def test_the_same_part_key_for_another_amount_is_an_idempotency_conflict():
    account = account_with(50)
    hold = hold_create(account=account, amount=10)
    hold_capture_part(hold=hold, amount=4, key="a")
    with pytest.raises(IdempotencyConflict) as conflict:
        hold_capture_part(hold=hold, amount=5, key="a")
    assert conflict.value.details == {"previous_amount": 4, "amount": 5}
    assert state(hold) == (HoldStatus.OPEN, 4)
    assert numbers(account) == (46, 6)
    assert ledger_audit() == []


def test_part_keys_are_per_hold():
    account = account_with(50)
    one, two = (hold_create(account=account, amount=10) for _ in range(2))
    hold_capture_part(hold=one, amount=2, key="step-1")
    hold_capture_part(hold=two, amount=2, key="step-1")
    assert (state(one), state(two)) == ((HoldStatus.OPEN, 2), (HoldStatus.OPEN, 2))
    assert numbers(account) == (46, 16)
    assert ledger_audit() == []


def test_parts_inside_a_callers_transaction_leave_it_usable():
    account = account_with(50)
    hold = hold_create(account=account, amount=10)
    with transaction.atomic():
        first = hold_capture_part(hold=hold, amount=3, key="a")
        assert hold_capture_part(hold=hold, amount=3, key="a").pk == first.pk
        with pytest.raises(HoldNotOpen):
            hold_capture_part(hold=hold, amount=8, key="b")
        with pytest.raises(IdempotencyConflict):
            hold_capture_part(hold=hold, amount=2, key="a")
        hold_capture_part(hold=hold, amount=2, key="b")
        hold_release(hold=hold)
    assert state(hold) == (HoldStatus.CAPTURED, 5)
    assert numbers(account) == (45, 0)
    assert ledger_audit() == []


def test_the_expired_hold_sweep_releases_what_parts_left():
    account = account_with(50)
    stale = hold_create(account=account, amount=10, ttl=timedelta(seconds=-1))
    untouched = hold_create(account=account, amount=5, ttl=timedelta(seconds=-1))
    fresh = hold_create(account=account, amount=5)
    hold_capture_part(hold=stale, amount=4, key="a")
    hold_capture_part(hold=fresh, amount=1, key="a")
    assert holds_release_expired() == 2
    assert state(stale) == (HoldStatus.CAPTURED, 4)
    assert state(untouched) == (HoldStatus.RELEASED, 0)
    assert state(fresh) == (HoldStatus.OPEN, 1)
    assert numbers(account) == (45, 4)
    assert stale.entries.get(kind=EntryKind.RELEASE).held_delta == -6
    assert ledger_audit() == []


def test_audit_flags_a_final_capture_on_an_open_hold():
    account = account_with(50)
    hold = hold_create(account=account, amount=10, idempotency_key="pipe")
    hold_capture_part(hold=hold, amount=4, key="a")
    assert ledger_audit() == []
    # A final capture entry written past the services (of nothing, so that the sums still
    # add up): an open hold must not have one.
    LedgerEntry.objects.create(
        account=account,
        kind=EntryKind.CAPTURE,
        amount=0,
        held_delta=0,
        balance_after=46,
        held_after=6,
        hold=hold,
        idempotency_key="capture:pipe",
    )
    messages = [str(p) for p in ledger_audit()]
    assert len(messages) == 1
    assert f"hold {hold.pk} (open, 10) resolved inconsistently" in messages[0]
    assert "2 capture(s) (1 final)" in messages[0]


def test_audit_flags_a_part_counted_behind_the_ledger():
    account = account_with(50)
    hold = hold_create(account=account, amount=10)
    hold_capture_part(hold=hold, amount=4, key="a")
    Hold.objects.filter(pk=hold.pk).update(captured=6)
    messages = [str(p) for p in ledger_audit()]
    assert any("held 6 != open holds 4" in m for m in messages)
    assert any("charged 4 vs 6" in m for m in messages)
    assert any(f"hold {hold.pk} is open but holds 6, not 4" in m for m in messages)


def test_audit_flags_a_release_on_a_hold_with_parts_marked_released():
    account = account_with(50)
    hold = hold_create(account=account, amount=10)
    hold_capture_part(hold=hold, amount=4, key="a")
    hold_release(hold=hold)
    Hold.objects.filter(pk=hold.pk).update(status=HoldStatus.RELEASED)
    messages = [str(p) for p in ledger_audit()]
    assert len(messages) == 1 and f"hold {hold.pk} (released, 10)" in messages[0]


# --- Under real concurrency: PostgreSQL, real threads, one connection each ------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parts_racing_a_release_charge_exactly_the_parts_that_got_in():
    account = UserFactory(credits=500).token_account
    for round_ in range(6):
        hold = hold_create(account=account, amount=40, idempotency_key=f"pipe-{round_}")
        before = numbers(account)[0]
        # Nine parts of 6 (54 > 40: some are refused for want of room) and one release.
        copies = [Hold.objects.get(pk=hold.pk) for _ in range(10)]

        def work(i: int, copies=copies):
            if i == 9:
                return hold_release(hold=copies[i], reason="cancelled")
            return hold_capture_part(hold=copies[i], amount=6, key=f"step-{i}")

        results = run_together(10, work)
        unexpected = [r for r in results if isinstance(r, Exception)]
        assert all(isinstance(r, HoldNotOpen) for r in unexpected), unexpected
        parts = [r for r in results[:9] if isinstance(r, LedgerEntry)]
        assert isinstance(results[9], Hold)  # the release always gets in
        assert len(parts) <= 6
        charged = 6 * len(parts)
        assert numbers(account) == (before - charged, 0)
        assert state(hold) == (HoldStatus.CAPTURED if parts else HoldStatus.RELEASED, charged)
        assert hold.entries.get(kind=EntryKind.RELEASE).held_delta == -(40 - charged)
        assert ledger_audit() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parts_racing_a_capture_of_the_rest_charge_the_whole_hold_once():
    account = UserFactory(credits=500).token_account
    for round_ in range(6):
        hold = hold_create(account=account, amount=30, idempotency_key=f"pipe-{round_}")
        copies = [Hold.objects.get(pk=hold.pk) for _ in range(8)]

        def work(i: int, copies=copies):
            if i == 7:
                return hold_capture(hold=copies[i])
            return hold_capture_part(hold=copies[i], amount=5, key=f"step-{i}")

        results = run_together(8, work)
        unexpected = [r for r in results if isinstance(r, Exception)]
        assert all(isinstance(r, HoldNotOpen) for r in unexpected), unexpected
        parts = [r for r in results[:7] if isinstance(r, LedgerEntry)]
        assert state(hold) == (HoldStatus.CAPTURED, 30)
        final = hold.entries.filter(idempotency_key=f"capture:pipe-{round_}")
        # The capture of the rest finds nothing left when six parts got in before it.
        assert final.count() == (0 if len(parts) == 6 else 1)
        assert sum(-e.amount for e in hold.entries.filter(kind=EntryKind.CAPTURE)) == 30
    assert numbers(account) == (500 - 6 * 30, 0)
    assert ledger_audit() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_replayed_part_key_from_many_threads_charges_once():
    account = UserFactory(credits=100).token_account
    hold = hold_create(account=account, amount=20)
    copies = [Hold.objects.get(pk=hold.pk) for _ in range(12)]
    results = run_together(12, lambda i: hold_capture_part(hold=copies[i], amount=5, key="step-1"))
    assert all(isinstance(r, LedgerEntry) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert state(hold) == (HoldStatus.OPEN, 5)
    assert numbers(account) == (95, 15)
    assert ledger_audit() == []
