"""Lost workers and messages (the sweeper, also with a real Dramatiq worker on the configured
broker), duplicate deliveries, and the actors' configuration."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from studio.models import Generation, Status
from studio.providers.base import Cancelled
from studio.services.execution import ProgressReporter, generation_run
from studio.services.generations import JobBusy, generation_claim
from studio.services.sweeper import OVERDUE_GRACE, generations_sweep
from studio.tasks import deliver_webhook, generate_image, generate_video
from tests.conftest import login
from tests.factories import UserFactory
from tests.studio.lifecycle.support import (
    InThread,
    balance,
    files_under,
    hold_entries,
    make_running,
    submit,
)
from tokens.audit import ledger_audit
from tokens.models import EntryKind

# Jobs write files, and storage refuses to write inside a transaction: no test-wide one.
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_job_running_past_its_time_limit_is_failed_by_the_sweeper_and_released_once(
    user_api, user, settings
):
    limit = settings.GENERATION_TIME_LIMIT["image"]
    now = timezone.now()
    overdue = submit(user_api)
    # A hung worker still renewing its lease: only the time limit can end the job.
    make_running(overdue, started_at=now - timedelta(seconds=limit + 1) - OVERDUE_GRACE)
    within_grace = submit(user_api)
    make_running(within_grace, started_at=now - timedelta(seconds=limit + 1))

    first = generations_sweep()
    assert (first.failed, first.requeued) == (1, 0)
    generation = Generation.objects.get(pk=overdue)
    assert (generation.status, generation.error_code) == (Status.FAILED, "GENERATION_FAILED")
    assert generation.error == f"Timed out: still running after the {limit} s limit"
    assert generation.lease_until is None and generation.finished_at is not None
    assert hold_entries(overdue) == {EntryKind.HOLD: 1, EntryKind.RELEASE: 1}
    assert Generation.objects.get(pk=within_grace).status == Status.GENERATING

    second = generations_sweep()
    assert second.failed == 0
    assert hold_entries(overdue) == {EntryKind.HOLD: 1, EntryKind.RELEASE: 1}
    # The stuck worker, should it wake up, is told to stop at its next progress report.
    with pytest.raises(Cancelled):
        ProgressReporter(generation, "dead-host:4242:1:0badf00d").write(50)
    assert balance(user) == (50, 4)  # the other job still holds its price
    assert ledger_audit() == []


@pytest.mark.redis
def test_a_queued_job_that_lost_its_message_is_enqueued_again_once_and_then_completes(
    user_api, user, settings, broker, run_worker, media_storage
):
    generation_id = submit(user_api)
    broker.flush("images")  # the broker lost the message
    stale = timezone.now() - timedelta(seconds=settings.QUEUED_STALE_AFTER + 1)
    Generation.objects.filter(pk=generation_id).update(enqueued_at=stale)

    first = generations_sweep()
    assert first.requeued == 1
    enqueued_at = Generation.objects.get(pk=generation_id).enqueued_at
    assert enqueued_at > stale
    assert broker.do_qsize("images") == 1

    second = generations_sweep()
    assert second.requeued == 0
    assert Generation.objects.get(pk=generation_id).enqueued_at == enqueued_at
    assert broker.do_qsize("images") == 1

    run_worker("images")

    generation = Generation.objects.get(pk=generation_id)
    assert (generation.status, generation.attempts) == (Status.COMPLETED, 1)
    assert hold_entries(generation_id) == {EntryKind.HOLD: 1, EntryKind.CAPTURE: 1}
    assert f"{generation.storage_prefix}1/original.png" in files_under(media_storage)
    assert balance(user) == (46, 0)
    assert ledger_audit() == []


def test_a_job_whose_workers_all_died_is_given_up_after_max_attempts_and_released_once(
    user_api, user, settings
):
    attempts = settings.GENERATION_MAX_ATTEMPTS
    generation_id = submit(user_api)
    now = timezone.now()
    make_running(
        generation_id,
        attempts=attempts,
        lease_until=now - timedelta(seconds=1),  # its worker died
        enqueued_at=now - timedelta(seconds=settings.GENERATION_LEASE + 1),
    )

    swept = generations_sweep()
    assert (swept.requeued, swept.failed) == (1, 0)
    generation_run(generation_id=generation_id)  # the message the sweeper sent

    generation = Generation.objects.get(pk=generation_id)
    assert (generation.status, generation.error_code) == (Status.FAILED, "GENERATION_FAILED")
    assert generation.error == f"Gave up after {attempts} attempts (workers stopped mid-job)"
    assert generation.attempts == attempts
    assert hold_entries(generation_id) == {EntryKind.HOLD: 1, EntryKind.RELEASE: 1}

    generation_run(generation_id=generation_id)  # a late copy of the message
    assert generations_sweep().requeued == 0
    assert hold_entries(generation_id) == {EntryKind.HOLD: 1, EntryKind.RELEASE: 1}
    assert balance(user) == (50, 0)
    assert ledger_audit() == []


@pytest.mark.postgres
@pytest.mark.redis
def test_two_sweepers_at_once_enqueue_each_stale_job_once(api, settings, broker):
    client = login(api, UserFactory(credits=100))
    # Many rows, so the sweepers' passes overlap however the threads are scheduled.
    ids = [submit(client) for _ in range(20)]
    broker.flush("images")  # every message lost
    stale = timezone.now() - timedelta(seconds=settings.QUEUED_STALE_AFTER + 1)
    Generation.objects.filter(pk__in=ids).update(enqueued_at=stale)
    start = threading.Barrier(2)

    def sweep() -> int:
        start.wait(timeout=30)
        return generations_sweep().requeued

    sweepers = [InThread(sweep) for _ in range(2)]
    requeued = [sweeper.result() for sweeper in sweepers]

    assert sum(requeued) == 20
    assert broker.do_qsize("images") == 20
    assert not Generation.objects.filter(pk__in=ids, enqueued_at=stale).exists()
    assert ledger_audit() == []


def test_a_second_claim_while_a_live_worker_holds_the_lease_raises_job_busy(user_api):
    generation_id = submit(user_api)
    first = generation_claim(generation_id=generation_id, worker="worker-a")
    assert (first.status, first.worker, first.attempts) == (Status.GENERATING, "worker-a", 1)

    with pytest.raises(JobBusy):
        generation_claim(generation_id=generation_id, worker="worker-b")

    generation = Generation.objects.get(pk=generation_id)
    assert (generation.status, generation.worker, generation.attempts) == (
        Status.GENERATING,
        "worker-a",
        1,
    )
    assert hold_entries(generation_id) == {EntryKind.HOLD: 1}


def test_duplicate_messages_during_and_after_a_live_run_change_nothing(
    user_api, user, settings, media_storage, late_huggingface
):
    settings.IMAGE_PROVIDERS = ["huggingface"]
    generation_id = submit(user_api, model="flux-dev")
    job = InThread(lambda: generation_run(generation_id=generation_id))
    assert late_huggingface.wait_for_requests(1, timeout=30)  # the first worker is mid-job

    with pytest.raises(JobBusy):
        generation_claim(generation_id=generation_id, worker="another-worker")
    with pytest.raises(JobBusy):
        generation_run(generation_id=generation_id)  # a duplicate message, now
    assert Generation.objects.get(pk=generation_id).attempts == 1

    late_huggingface.answer_now.set()
    job.result()
    generation = Generation.objects.get(pk=generation_id)
    assert (generation.status, generation.attempts) == (Status.COMPLETED, 1)

    generation_run(generation_id=generation_id)  # the same message, redelivered later
    assert generation_claim(generation_id=generation_id, worker="another-worker") is None
    generation.refresh_from_db()
    assert (generation.status, generation.attempts) == (Status.COMPLETED, 1)
    assert len(late_huggingface.requests) == 1
    assert hold_entries(generation_id) == {EntryKind.HOLD: 1, EntryKind.CAPTURE: 1}
    assert files_under(media_storage) == [
        f"{generation.storage_prefix}1/{name}"
        for name in ("metadata.json", "original.png", "thumbnail.webp")
    ]
    assert balance(user) == (47, 0)
    assert ledger_audit() == []


def test_a_live_worker_waiting_on_a_slow_provider_keeps_its_job_past_the_lease(
    user_api, settings, late_huggingface
):
    # As in production (GENERATION_LEASE 60 s, HF_TIMEOUT 120 s), one provider call may take
    # longer than the lease; here 1 s against 30 s.
    settings.GENERATION_LEASE = 1
    settings.IMAGE_PROVIDERS = ["huggingface"]
    generation_id = submit(user_api, model="flux-dev")
    job = InThread(lambda: generation_run(generation_id=generation_id))
    try:
        assert late_huggingface.wait_for_requests(1, timeout=30)  # the worker is mid-call
        lease = Generation.objects.get(pk=generation_id).lease_until
        while timezone.now() <= lease + timedelta(milliseconds=100):
            assert not job.done
            time.sleep(0.05)  # the lease is wall-clock time; nothing to wait on but the clock

        # The worker is alive and its call still in flight: its job must not be handed out.
        assert generations_sweep().requeued == 0
        with pytest.raises(JobBusy):
            generation_claim(generation_id=generation_id, worker="another-worker")
    finally:
        late_huggingface.answer_now.set()
        job.result()
    generation = Generation.objects.get(pk=generation_id)
    assert (generation.status, generation.attempts) == (Status.COMPLETED, 1)
    assert len(late_huggingface.requests) == 1
    assert hold_entries(generation_id) == {EntryKind.HOLD: 1, EntryKind.CAPTURE: 1}


def test_each_actor_has_its_own_queue():
    assert generate_image.queue_name == "images"
    assert generate_video.queue_name == "videos"
    assert deliver_webhook.queue_name == "webhooks"


@pytest.mark.parametrize(("actor", "kind"), [(generate_image, "image"), (generate_video, "video")])
def test_generation_actors_outlast_the_job_time_limit_and_retry_only_job_busy(
    settings, actor, kind
):
    # Dramatiq's own limit must not kill a job before the worker fails (and refunds) it.
    assert actor.options["time_limit"] >= settings.GENERATION_TIME_LIMIT[kind] * 1000
    retry_when = actor.options["retry_when"]
    assert retry_when(0, JobBusy("img_1_x")) is True
    assert retry_when(5, JobBusy("img_1_x")) is True
    assert retry_when(0, RuntimeError("provider crashed")) is False
    assert retry_when(0, Cancelled("img_1_x")) is False
    assert retry_when(1000, JobBusy("img_1_x")) is False  # a lease never held that long
