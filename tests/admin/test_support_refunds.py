"""Support refunds, as a member of the "Support" group: a completed job's charge given back
in full or in part, once, never more than it charged, over every hold of an execution that a
retry finished, and once under concurrent staff."""

import pytest

from pipelines.selectors import execution_holds
from pipelines.services.executions import execution_cancel, execution_retry
from support.models import SupportAction
from support.services import job_refund
from tests.admin.support import (
    EXECUTIONS_URL,
    GENERATIONS_URL,
    available,
    change_url,
    completed_execution,
    completed_generation,
    messages_of,
    queued_generation,
    record,
    refunds,
    start_action,
    started_execution,
    submit_action,
)
from tests.pipelines.support import run_all, run_next
from tests.tokens.test_concurrency import outcome, run_together
from tokens.audit import ledger_audit
from tokens.models import Hold

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("support_studio")]


def test_refund_a_completed_generation_once(desk, member, customer):
    generation = completed_generation(customer)
    charged = generation.cost
    after_charge = available(customer)
    form = start_action(desk, GENERATIONS_URL, "refund", [generation.pk])
    assert 'name="reason"' in form and 'name="amount"' in form

    response = submit_action(desk, GENERATIONS_URL, "refund", [generation.pk], reason="Blurry")
    again = submit_action(desk, GENERATIONS_URL, "refund", [generation.pk], reason="Still blurry")

    assert available(customer) == after_charge + charged
    entry = refunds(customer).get()
    assert (entry.amount, entry.actor, entry.hold_id) == (charged, member, generation.hold_id)
    assert entry.object_id == generation.pk  # the refund names the job it gives back for
    assert "Blurry" in entry.memo
    assert f"refunded {charged} credit(s)" in " ".join(messages_of(response))
    assert "already refunded" in " ".join(messages_of(again))
    kept = record("refund", generation)
    assert (kept.actor, kept.reason, kept.customer) == (member, "Blurry", customer)
    assert kept.details["credits"] == charged
    assert ledger_audit() == []


def test_partial_refund_of_an_execution_and_never_more_than_it_charged(desk, customer):
    execution = completed_execution(customer)
    charged = Hold.objects.get(pk=execution.hold_id).captured
    assert charged == execution.cost
    before = available(customer)

    too_much = submit_action(
        desk, EXECUTIONS_URL, "refund", [execution.pk], reason="x", amount=charged + 1
    )
    assert "between 1 and" in " ".join(messages_of(too_much))
    assert not refunds(customer).exists()

    submit_action(desk, EXECUTIONS_URL, "refund", [execution.pk], reason="Step 3 wrong", amount=3)
    assert available(customer) == before + 3
    assert Hold.objects.get(pk=execution.hold_id).refunded == 3
    second = submit_action(desk, EXECUTIONS_URL, "refund", [execution.pk], reason="more", amount=2)
    assert "already refunded" in " ".join(messages_of(second))
    assert available(customer) == before + 3
    assert record("refund", execution).details["credits"] == 3
    assert ledger_audit() == []


def test_a_job_that_was_not_charged_cannot_be_refunded(desk, customer):
    queued, _ = queued_generation(customer), None
    response = submit_action(desk, GENERATIONS_URL, "refund", [queued.pk], reason="r")
    assert "Only a completed job" in " ".join(messages_of(response))
    assert not refunds(customer).exists() and not SupportAction.objects.exists()


def test_a_refund_needs_a_reason(desk, customer):
    generation = completed_generation(customer)
    response = submit_action(desk, GENERATIONS_URL, "refund", [generation.pk], reason="  ")
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not refunds(customer).exists()


@pytest.mark.postgres
def test_staff_refunding_one_job_at_once_refund_it_once(member, customer):
    generation = completed_generation(customer)
    before = available(customer)
    results = run_together(
        8,
        lambda i: job_refund(actor=member, job=generation, reason=f"desk {i}", amount=i % 3 + 1),
    )
    assert outcome(results) == {"int": 1, "AlreadyDone": 7}
    refund = refunds(customer).get()
    assert available(customer) == before + refund.amount
    assert SupportAction.objects.filter(action="refund").count() == 1
    assert ledger_audit() == []


def retried_execution(customer):
    """A Logo kit run cancelled after its first step (4 of its 12 credits charged on the first
    hold), then retried and finished (8 more on a second hold)."""
    execution = started_execution(customer)
    run_next(execution.pk)
    execution_cancel(user=customer, execution_id=execution.pk)
    execution_retry(user=customer, execution_id=execution.pk)
    execution = run_all(execution.pk)
    assert execution.status == "completed" and execution.attempt == 2
    first, second = execution_holds(execution)
    assert (first.captured, second.captured) == (4, 8)
    return execution


def test_a_retried_execution_is_refunded_all_it_charged_over_both_holds(desk, customer):
    execution = retried_execution(customer)
    before = available(customer)

    response = submit_action(desk, EXECUTIONS_URL, "refund", [execution.pk], reason="Bad logo")

    assert "refunded 12 credit(s)" in " ".join(messages_of(response))
    assert available(customer) == before + 12  # all of the run's charge, not the last hold's
    assert [h.refunded for h in execution_holds(execution)] == [4, 8]
    assert {e.object_id for e in refunds(customer)} == {execution.pk}
    kept = record("refund", execution)
    assert (kept.details["credits"], kept.details["charged"]) == (12, 12)
    again = submit_action(desk, EXECUTIONS_URL, "refund", [execution.pk], reason="again")
    assert "already refunded" in " ".join(messages_of(again))
    assert available(customer) == before + 12
    assert ledger_audit() == []


def test_a_partial_refund_of_a_retried_execution_spans_its_holds(desk, customer):
    execution = retried_execution(customer)
    before = available(customer)

    too_much = submit_action(desk, EXECUTIONS_URL, "refund", [execution.pk], reason="x", amount=13)
    assert "between 1 and the 12 credits" in " ".join(messages_of(too_much))
    submit_action(desk, EXECUTIONS_URL, "refund", [execution.pk], reason="Step 1 off", amount=10)

    assert available(customer) == before + 10
    assert [h.refunded for h in execution_holds(execution)] == [2, 8]  # the latest hold first
    assert record("refund", execution).details["credits"] == 10
    assert ledger_audit() == []


def test_a_retried_executions_log_keeps_the_cancelled_attempt(desk, customer):
    execution = retried_execution(customer)
    page = desk.get(change_url(execution)).content.decode()
    cancelled = page.index("Step 2 (remove-background): Cancelled by its owner")
    retried = page.index("Retried (attempt 2): 8 credit(s) held for the steps left")
    assert cancelled < retried < page.index("Step 2 (remove-background): Completed in")
    assert "Step 3 (vectorize): Completed in" in page
