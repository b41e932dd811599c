"""The generation lifecycle when things go wrong: cancels mid-job, late results, storage and
provider failures, racing submissions, lost workers and messages, duplicate deliveries.

Jobs run through generation_run (the actors' body) in this process, some in a background
thread so the test thread can act while a job is in flight; the sweeper tests also run a real
Dramatiq worker on the configured broker. Only what lies outside the project is faked: the
Hugging Face API (tests.fakes.servers) and an S3 endpoint where nothing listens.
"""

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import dramatiq
import pytest
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from config.s3 import s3_storage
from studio import storage
from studio.models import Generation, Status
from studio.providers.base import Cancelled
from studio.providers.instant import png_of_size
from studio.services.execution import ProgressReporter, generation_run
from studio.services.generations import JobBusy, generation_claim
from studio.services.sweeper import OVERDUE_GRACE, generations_sweep
from studio.tasks import deliver_webhook, generate_image, generate_video
from tests.conftest import login
from tests.factories import PASSWORD, UserFactory
from tests.fakes.servers import (
    BOMB,
    GARBAGE,
    HANG_LIMIT,
    HF_TOKEN,
    FakeHuggingFace,
    closed_port_url,
    http_error,
)
from tokens.audit import ledger_audit
from tokens.models import EntryKind, Hold, HoldStatus

# Jobs write files, and storage refuses to write inside a transaction: no test-wide one.
pytestmark = pytest.mark.django_db(transaction=True)

IMAGE = "/api/v1/studio/generate-image"
VIDEO = "/api/v1/studio/generate-video"
QUEUES = (generate_image.queue_name, generate_video.queue_name)
EXECUTION_LOGGER = "studio.services.execution"
# What generation_run logs when a cancel stops a job: at a progress check, or at completion
# (a job that answered within the first progress interval has had no check).
STOPPED = "stopped: cancelled or taken over"


@pytest.fixture(autouse=True)
def _studio(settings, media_storage):
    settings.RATELIMIT_ENABLE = False  # rate limits have their own tests
    settings.IMAGE_PROVIDERS = ["instant"]
    settings.VIDEO_PROVIDERS = ["instant"]


@pytest.fixture(autouse=True)
def broker():
    """The configured broker, its generation queues empty before and after each test
    (submissions enqueue messages nobody consumes unless a test starts a worker)."""
    broker = dramatiq.get_broker()
    for queue in QUEUES:
        broker.flush(queue)
    yield broker
    for queue in QUEUES:
        broker.flush(queue)


@pytest.fixture
def huggingface(settings, fake_huggingface):
    settings.HF_TOKEN = HF_TOKEN
    settings.HF_BASE_URL = fake_huggingface.url
    settings.HF_TIMEOUT = 30
    return fake_huggingface


class LateHuggingFace(FakeHuggingFace):
    """Hugging Face whose valid answer waits until the test sets `answer_now` (HANG would
    answer 504 once released; this answers with the image, late)."""

    def __init__(self) -> None:
        super().__init__()
        self.answer_now = threading.Event()

    def answer(self, request, size=None):
        self.answer_now.wait(HANG_LIMIT)
        return super().answer(request, size)

    def __exit__(self, *exc_info) -> None:
        self.answer_now.set()  # never leave a handler thread waiting
        super().__exit__(*exc_info)


@pytest.fixture
def late_huggingface(settings):
    with LateHuggingFace() as server:
        settings.HF_TOKEN = HF_TOKEN
        settings.HF_BASE_URL = server.url
        settings.HF_TIMEOUT = 30
        yield server


@pytest.fixture
def run_worker(broker):
    """Consume a queue with an in-process Dramatiq worker until it is empty."""
    started: list[dramatiq.Worker] = []

    def run(queue: str) -> None:
        worker = dramatiq.Worker(broker, queues={queue}, worker_threads=1, worker_timeout=100)
        started.append(worker)
        worker.start()
        broker.join(queue, timeout=60_000)
        worker.join()

    yield run
    for worker in started:
        worker.stop()
        # The worker registered a middleware that would start consumers for queues declared
        # later; drop it with the worker.
        broker.middleware[:] = [
            m for m in broker.middleware if getattr(m, "worker", None) is not worker
        ]


class InThread:
    """`call()` in a thread of its own, which uses (and at the end closes) its own database
    connection. `result()` joins it and re-raises what it raised."""

    def __init__(self, call: Callable[[], object]) -> None:
        self._call = call
        self._value: object = None
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:  # handed to the test thread by result()
            self._error = exc
        finally:
            connections.close_all()

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()

    def result(self, timeout: float = 60) -> object:
        self.thread.join(timeout)
        assert self.done, f"the thread still runs after {timeout} s"
        if self._error is not None:
            raise self._error
        return self._value


# --- Helpers ----------------------------------------------------------------------------------


def submit(api, path: str = IMAGE, **body) -> str:
    response = api.post(path, {"prompt": "A lighthouse at dawn", **body}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def cancel(api, generation_id: str) -> None:
    response = api.post(f"/api/v1/studio/generation/{generation_id}/cancel")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"


def hold_entries(generation_id: str) -> dict[str, int]:
    """How many ledger entries of each kind the generation's hold has."""
    hold = Generation.objects.get(pk=generation_id).hold
    return dict(Counter(hold.entries.values_list("kind", flat=True)))


def balance(user) -> tuple[int, int]:
    user.token_account.refresh_from_db()
    return user.token_account.balance, user.token_account.held


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def wait_for_row(
    generation_id: str, condition: Callable[[Generation], bool], job: InThread, timeout=60
) -> Generation:
    """Poll the row until `condition` holds: another thread's progress, with no event to wait
    on. Fails if that thread ends first or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        finished = job.done  # read before the row: a job that ended after it still counts
        generation = Generation.objects.get(pk=generation_id)
        if condition(generation):
            return generation
        assert not finished, f"the job ended first: {generation.status} {generation.progress}%"
        assert time.monotonic() < deadline, f"not reached in {timeout} s: {generation.progress}%"
        time.sleep(0.05)


def make_running(generation_id: str, **fields) -> None:
    """The row as a worker that claimed it left it (the worker itself is gone or stuck)."""
    now = timezone.now()
    values = {
        "status": Status.GENERATING,
        "worker": "dead-host:4242:1:0badf00d",
        "attempts": 1,
        "progress": 40,
        "started_at": now - timedelta(minutes=1),
        "lease_until": now + timedelta(minutes=1),
    }
    values.update(fields)
    assert Generation.objects.filter(pk=generation_id).update(**values) == 1


# --- Cancel and late results ------------------------------------------------------------------


def test_cancel_during_a_video_stops_the_local_provider_at_its_next_checkpoint(
    user_api, user, settings, media_storage, caplog, monkeypatch
):
    settings.VIDEO_PROVIDERS = ["local"]
    caplog.set_level(logging.INFO, logger=EXECUTION_LOGGER)
    # Every progress checkpoint the worker reaches, and whether it raised Cancelled there. A
    # spy, not a fake: the reporter still does its work. Without it, a provider that ignored
    # the cancel and rendered to the end (stopping at the 92% mark) would leave the same rows.
    checkpoints: list[tuple[int, bool]] = []
    write = ProgressReporter.write

    def observed_write(reporter, overall: int) -> None:
        try:
            write(reporter, overall)
        except Cancelled:
            checkpoints.append((overall, True))
            raise
        checkpoints.append((overall, False))

    monkeypatch.setattr(ProgressReporter, "write", observed_write)
    # 240 frames at 1280x720: several seconds of painting and encoding.
    generation_id = submit(user_api, VIDEO, model="huggingface", duration=10, fps=24)
    assert balance(user) == (50, 5)

    job = InThread(lambda: generation_run(generation_id=generation_id))
    # Past the painting (22% of the provider's work): it is encoding frames now.
    wait_for_row(generation_id, lambda g: g.status == Status.GENERATING and g.progress >= 30, job)
    cancel(user_api, generation_id)
    at_cancel = Generation.objects.get(pk=generation_id).progress
    job.result()

    generation = Generation.objects.get(pk=generation_id)
    assert (generation.status, generation.error_code) == (Status.CANCELLED, "CANCELLED")
    assert generation.progress == at_cancel  # nothing written after the cancel
    # The first checkpoint after the cancel raised, mid-film, and it was the last one reached:
    # the provider stopped there instead of finishing the film (the worker marks 92 after it).
    stopped_at, raised = checkpoints[-1]
    assert raised and at_cancel <= stopped_at < 92
    assert [c for c in checkpoints if c[1]] == [(stopped_at, True)]
    assert STOPPED in caplog.text
    assert generation.outputs == [] and generation.metadata_key == "" and generation.source == ""
    assert hold_entries(generation_id) == {EntryKind.HOLD: 1, EntryKind.RELEASE: 1}
    assert generation.hold.status == HoldStatus.RELEASED
    assert balance(user) == (50, 0)
    assert files_under(media_storage) == []
    assert ledger_audit() == []


def test_a_generation_deleted_while_running_leaves_no_files_and_no_charge(
    user_api, user, settings, media_storage, late_huggingface
):
    settings.IMAGE_PROVIDERS = ["huggingface"]
    generation_id = submit(user_api, model="flux-dev")

    job = InThread(lambda: generation_run(generation_id=generation_id))
    assert late_huggingface.wait_for_requests(1, timeout=30)
    response = user_api.delete(f"/api/v1/users/generation/{generation_id}")
    assert response.status_code == 200, response.content
    late_huggingface.answer_now.set()  # the worker now writes its late result, then finds no row
    job.result()

    assert not Generation.objects.filter(pk=generation_id).exists()
    assert files_under(media_storage) == []  # the worker took its late files away again
    assert balance(user) == (50, 0)
    assert ledger_audit() == []


def test_a_provider_result_arriving_after_cancel_is_discarded(
    user_api, user, settings, media_storage, late_huggingface, caplog
):
    settings.IMAGE_PROVIDERS = ["huggingface"]
    caplog.set_level(logging.INFO, logger=EXECUTION_LOGGER)
    generation_id = submit(user_api, model="flux-dev")

    job = InThread(lambda: generation_run(generation_id=generation_id))
    assert late_huggingface.wait_for_requests(1, timeout=30)
    cancel(user_api, generation_id)
    late_huggingface.answer_now.set()  # a valid image, after the cancel
    job.result()

    assert len(late_huggingface.requests) == 1
    generation = Generation.objects.get(pk=generation_id)
    assert generation.status == Status.CANCELLED
    assert generation.outputs == [] and generation.source == ""
    assert STOPPED in caplog.text  # the answer arrived and was thrown away, not failed on
    assert hold_entries(generation_id) == {EntryKind.HOLD: 1, EntryKind.RELEASE: 1}
    assert balance(user) == (50, 0)
    assert files_under(media_storage) == []
    assert ledger_audit() == []


# --- Storage and provider failures ------------------------------------------------------------


def test_storage_that_stays_down_fails_the_job_as_service_unavailable_after_retries(
    user_api, user, settings, monkeypatch
):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage(
            bucket="craftframe-media",
            endpoint_url=closed_port_url(),
            access_key="test-access",
            secret_key="test-secret",
            connect_timeout=1,
            read_timeout=1,
        ),
    }
    settings.STORAGE_RETRIES = 2
    sleeps: list[float] = []
    monkeypatch.setattr(storage, "_sleep", sleeps.append)
    generation_id = submit(user_api)

    generation_run(generation_id=generation_id)

    generation = Generation.objects.get(pk=generation_id)
    assert (generation.status, generation.error_code) == (Status.FAILED, "SERVICE_UNAVAILABLE")
    assert generation.error.startswith("Could not store the result")
    assert generation.finished_at is not None and generation.lease_until is None
    assert generation.outputs == [] and generation.metadata_key == "" and generation.source == ""
    assert [a["provider"] for a in generation.provider_attempts] == ["instant"]
    # The job's three files (original, thumbnail, metadata) are written concurrently and each
    # is retried twice with backoff; then the clean-up of the attempt's folder is too, and
    # finds the storage just as down: 4 x 2 waits, each within its backoff range.
    assert len(sleeps) == 4 * settings.STORAGE_RETRIES
    first = sorted(sleeps)[:4]
    assert all(storage.BACKOFF_BASE / 2 <= delay <= storage.BACKOFF_BASE * 2 for delay in sleeps)
    assert all(delay <= storage.BACKOFF_BASE for delay in first)
    assert hold_entries(generation_id) == {EntryKind.HOLD: 1, EntryKind.RELEASE: 1}
    assert balance(user) == (50, 0)
    body = user_api.get(f"/api/v1/studio/generation/{generation_id}").json()
    assert body["status"] == "failed" and body["retry_possible"] is True
    assert ledger_audit() == []


def test_garbage_from_huggingface_falls_back_to_instant_and_the_attempt_is_shown(
    user_api, user, settings, media_storage, huggingface
):
    settings.IMAGE_PROVIDERS = ["huggingface", "instant"]
    huggingface.fail_next(GARBAGE)
    generation_id = submit(user_api, model="flux-dev")

    generation_run(generation_id=generation_id)

    body = user_api.get(f"/api/v1/studio/generation/{generation_id}").json()
    assert body["status"] == "completed" and body["metadata"]["source"] == "instant"
    hf, instant = body["attempts"]
    assert hf["provider"] == "huggingface"
    assert hf["error"] == "huggingface: response is not a valid image (UnidentifiedImageError)"
    assert (instant["provider"], instant["error"]) == ("instant", "")
    generation = Generation.objects.get(pk=generation_id)
    assert generation.provider_attempts == body["attempts"]
    assert len(huggingface.requests) == 1
    prefix = f"{generation.storage_prefix}1/"
    assert files_under(media_storage) == [
        f"{prefix}metadata.json",
        f"{prefix}original.png",
        f"{prefix}thumbnail.webp",
    ]
    # What was stored is instant's picture, not a byte of the garbage.
    assert storage.read(f"{prefix}original.png") == png_of_size(16, 16)
    assert hold_entries(generation_id) == {EntryKind.HOLD: 1, EntryKind.CAPTURE: 1}
    assert balance(user) == (47, 0)
    assert ledger_audit() == []


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        pytest.param(
            GARBAGE,
            "huggingface: response is not a valid image (UnidentifiedImageError)",
            id="garbage",
        ),
        pytest.param(BOMB, "huggingface: response image is too large", id="bomb"),
        pytest.param(
            http_error(503, {"error": "Model is loading", "estimated_time": 20}),
            "huggingface: 503 Service Unavailable: Model is loading (ready in about 20 s)",
            id="503",
        ),
    ],
)
def test_a_bad_answer_from_the_only_provider_fails_cleanly_and_stores_nothing(
    user_api, user, settings, media_storage, huggingface, fault, error
):
    settings.IMAGE_PROVIDERS = ["huggingface"]
    huggingface.fail_next(fault)
    generation_id = submit(user_api, model="flux-dev")

    generation_run(generation_id=generation_id)

    generation = Generation.objects.get(pk=generation_id)
    assert (generation.status, generation.error_code) == (Status.FAILED, "GENERATION_FAILED")
    assert generation.error == f"All providers failed (huggingface: {error})"
    assert [(a["provider"], a["error"]) for a in generation.provider_attempts] == [
        ("huggingface", error)
    ]
    assert len(huggingface.requests) == 1
    assert generation.outputs == [] and generation.metadata_key == ""
    assert files_under(media_storage) == []
    assert hold_entries(generation_id) == {EntryKind.HOLD: 1, EntryKind.RELEASE: 1}
    assert balance(user) == (50, 0)
    body = user_api.get(f"/api/v1/studio/generation/{generation_id}").json()
    assert body["status"] == "failed" and body["attempts"] == generation.provider_attempts
    assert ledger_audit() == []


# --- Racing submissions -----------------------------------------------------------------------


@pytest.mark.postgres
def test_fifty_concurrent_submissions_with_credits_for_ten_accept_exactly_ten(api):
    user = UserFactory(credits=40)
    signed_in = api.post(
        "/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert signed_in.status_code == 200, signed_in.content
    authorization = f"Bearer {signed_in.json()['token']}"
    start = threading.Barrier(50)

    def submit_one() -> tuple[int, dict]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=authorization)
        start.wait(timeout=30)  # all fifty requests race for the same credits
        response = client.post(
            IMAGE, {"prompt": "A lighthouse at dawn", "model": "flux-pro"}, format="json"
        )
        return response.status_code, response.json()

    threads = [InThread(submit_one) for _ in range(50)]
    results = [thread.result(timeout=120) for thread in threads]

    assert Counter(status for status, _ in results) == {202: 10, 403: 40}
    for status, body in results:
        if status == 403:
            assert body["code"] == "INSUFFICIENT_CREDITS"
            assert body["details"]["required"] == 4 and body["details"]["model"] == "flux-pro"
    accepted = {body["id"] for status, body in results if status == 202}
    generations = Generation.objects.filter(user=user)
    assert set(generations.values_list("id", flat=True)) == accepted
    assert all(g.hold.status == HoldStatus.OPEN and g.hold.amount == 4 for g in generations)
    assert Hold.objects.filter(account__user=user).count() == 10
    account = user.token_account
    account.refresh_from_db()
    assert (account.balance, account.held, account.available) == (40, 40, 0)
    assert ledger_audit() == []


# --- The sweeper ------------------------------------------------------------------------------


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


# --- Duplicate delivery -----------------------------------------------------------------------


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


# --- Actor configuration ----------------------------------------------------------------------


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
