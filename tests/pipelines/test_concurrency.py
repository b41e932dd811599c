"""Executions under real concurrency on PostgreSQL: many runs at once on a small balance,
one Idempotency-Key from many threads, and a cancel racing a step's completion."""

import pytest

from core.exceptions import IdempotencyConflict
from pipelines.models import Execution
from pipelines.services.executions import execution_cancel, execution_create
from studio.services.execution import generation_run
from tests.factories import UserFactory
from tests.pipelines.support import queued_job, starter
from tests.tokens.test_concurrency import outcome, run_together
from tokens.audit import ledger_audit
from tokens.models import EntryKind, LedgerEntry

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_eight_runs_of_twelve_on_thirty_credits_start_exactly_two():
    user = UserFactory(credits=30)
    logo = starter("logo-kit")
    results = run_together(
        8, lambda i: execution_create(user=user, template_id=logo.pk, inputs={"brand": f"B{i}"})
    )
    assert outcome(results) == {"tuple": 2, "InsufficientTokens": 6}
    account = user.token_account
    account.refresh_from_db()
    assert (account.balance, account.held) == (30, 24)
    assert Execution.objects.filter(user=user).count() == 2
    assert ledger_audit() == []


def test_one_idempotency_key_from_many_threads_starts_one_run():
    user = UserFactory(credits=100)
    logo = starter("logo-kit")
    results = run_together(
        12,
        lambda i: execution_create(
            user=user, template_id=logo.pk, inputs={"brand": "Acme"}, idempotency_key="once"
        ),
    )
    ids = {r[0].pk for r in results if isinstance(r, tuple)}
    assert len(ids) == 1 and not [r for r in results if isinstance(r, Exception)]
    account = user.token_account
    account.refresh_from_db()
    assert account.held == 12 and ledger_audit() == []
    again = run_together(
        4,
        lambda i: execution_create(
            user=user, template_id=logo.pk, inputs={"brand": "Other"}, idempotency_key="once"
        ),
    )
    assert all(isinstance(r, IdempotencyConflict) for r in again)


@pytest.mark.parametrize("round_", range(6))
def test_a_cancel_racing_a_step_completion_moves_every_credit_once(round_):
    user = UserFactory(credits=50)
    execution, _ = execution_create(
        user=user, template_id=starter("logo-kit").pk, inputs={"brand": "Acme"}
    )
    job = queued_job(execution.pk)
    results = run_together(
        2,
        lambda i: (
            generation_run(generation_id=job)
            if i == 0
            else execution_cancel(user=user, execution_id=execution.pk)
        ),
    )
    assert not [
        r for r in results if isinstance(r, Exception) and type(r).__name__ != "ExecutionNotActive"
    ]
    execution.refresh_from_db()
    # Whichever won, the run stopped (cancelled) or goes on (if the cancel came too late it
    # found the next step queued and cancelled that one): nothing is left held.
    assert execution.status == "cancelled"
    for next_job in filter(None, [queued_job(execution.pk)]):
        generation_run(generation_id=next_job)
    account = user.token_account
    account.refresh_from_db()
    charged = -sum(
        LedgerEntry.objects.filter(account=account, kind=EntryKind.CAPTURE).values_list(
            "amount", flat=True
        )
    )
    steps_charged = sum(execution.steps.values_list("charged", flat=True))
    assert charged == steps_charged and charged in (0, 4)
    assert (account.balance, account.held) == (50 - charged, 0)
    assert ledger_audit() == []
