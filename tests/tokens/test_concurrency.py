"""The ledger under real concurrency: PostgreSQL, real threads, one connection each."""

import threading
from collections import Counter

import pytest
from django.db import connection

from core.exceptions import IdempotencyConflict
from tests.factories import UserFactory
from tokens.audit import ledger_audit
from tokens.exceptions import HoldNotOpen, InsufficientTokens
from tokens.models import EntryKind, Hold, HoldStatus
from tokens.services import hold_capture, hold_create, hold_release, tokens_grant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(count: int, work) -> list:
    """Run work(i) on `count` threads released at the same instant; results or exceptions."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def runner(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def outcome(results: list) -> Counter:
    return Counter(type(r).__name__ for r in results)


def test_sixty_threads_holding_ten_from_a_hundred_exactly_ten_succeed():
    account = UserFactory(credits=100).token_account
    results = run_together(60, lambda i: hold_create(account=account, amount=10))
    assert outcome(results) == {"Hold": 10, "InsufficientTokens": 50}
    refused = [r for r in results if isinstance(r, InsufficientTokens)]
    assert all(r.required == 10 and r.available < 10 for r in refused)
    account.refresh_from_db()
    assert (account.balance, account.held) == (100, 100)
    assert Hold.objects.filter(account=account, status=HoldStatus.OPEN).count() == 10
    assert ledger_audit() == []


def test_a_replayed_key_from_many_threads_holds_once():
    account = UserFactory(credits=100).token_account
    results = run_together(
        20, lambda i: hold_create(account=account, amount=10, idempotency_key="gen-42")
    )
    assert outcome(results) == {"Hold": 20}
    assert len({r.pk for r in results}) == 1
    account.refresh_from_db()
    assert account.held == 10
    assert account.entries.filter(kind=EntryKind.HOLD).count() == 1
    assert ledger_audit() == []


def test_the_same_key_with_different_amounts_from_many_threads_holds_one_of_them():
    account = UserFactory(credits=100).token_account
    results = run_together(
        10, lambda i: hold_create(account=account, amount=5 + (i % 2), idempotency_key="k")
    )
    holds = [r for r in results if isinstance(r, Hold)]
    conflicts = [r for r in results if isinstance(r, IdempotencyConflict)]
    assert len(holds) + len(conflicts) == 10 and holds
    assert len({h.pk for h in holds}) == 1
    account.refresh_from_db()
    assert account.held == holds[0].amount
    assert ledger_audit() == []


def test_capture_and_release_racing_on_one_hold_resolve_it_once():
    account = UserFactory(credits=100).token_account
    for _ in range(10):
        hold = hold_create(account=account, amount=10)
        results = run_together(
            8, lambda i, hold=hold: hold_capture(hold=hold) if i % 2 else hold_release(hold=hold)
        )
        winners = [r for r in results if isinstance(r, Hold)]
        losers = [r for r in results if isinstance(r, HoldNotOpen)]
        assert len(winners) + len(losers) == 8
        assert hold.entries.filter(kind__in=["capture", "release"]).count() == 1
    assert ledger_audit() == []


def test_concurrent_holds_captures_and_grants_keep_the_ledger_exact():
    account = UserFactory(credits=200).token_account

    def work(i: int):
        if i % 5 == 0:
            return tokens_grant(account=account, amount=7, idempotency_key=f"bonus-{i}")
        hold = hold_create(account=account, amount=9)
        return hold_capture(hold=hold, amount=4) if i % 2 else hold_release(hold=hold)

    results = run_together(40, work)
    assert not [
        r for r in results if isinstance(r, Exception) and not isinstance(r, InsufficientTokens)
    ]
    account.refresh_from_db()
    grants = sum(1 for i in range(40) if i % 5 == 0) * 7
    captured = 4 * sum(
        1 for r in results if isinstance(r, Hold) and r.status == HoldStatus.CAPTURED
    )
    assert account.balance == 200 + grants - captured
    assert account.held == 0
    assert ledger_audit() == []
