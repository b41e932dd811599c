"""The generation lifecycle when things go wrong: cancels mid-job, late results, storage and
provider failures, racing submissions.

Jobs run through generation_run (the actors' body) in this process, some in a background
thread so the test thread can act while a job is in flight."""

import logging
import threading
from collections import Counter

import pytest
from rest_framework.test import APIClient

from studio import storage
from studio.models import Generation, Status
from studio.providers.base import Cancelled
from studio.providers.instant import png_of_size
from studio.services.execution import ProgressReporter, generation_run
from tests.factories import PASSWORD, UserFactory
from tests.fakes.servers import (
    BOMB,
    GARBAGE,
    http_error,
)
from tests.studio.lifecycle.support import (
    EXECUTION_LOGGER,
    IMAGE,
    STOPPED,
    VIDEO,
    InThread,
    balance,
    cancel,
    files_under,
    hold_entries,
    storage_down,
    submit,
    wait_for_row,
)
from tokens.audit import ledger_audit
from tokens.models import EntryKind, Hold, HoldStatus

# Jobs write files, and storage refuses to write inside a transaction: no test-wide one.
pytestmark = pytest.mark.django_db(transaction=True)


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


def test_storage_that_stays_down_fails_the_job_as_service_unavailable_after_retries(
    user_api, user, settings, monkeypatch
):
    storage_down(settings)
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
