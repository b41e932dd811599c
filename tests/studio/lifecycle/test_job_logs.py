"""Job logs: each job's short story (claim, provider attempts, storage, outcome, cancels and the
sweeper), for its owner through the API and the gallery page, and for staff in the admin."""

import os
import socket
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from studio.models import Generation, JobLogEntry, LogEvent
from studio.services import joblog
from studio.services.execution import generation_run
from studio.services.generations import generation_cancel, generation_claim
from studio.services.joblog import JOB_LOG_LIMIT, Line, job_log_write
from studio.services.sweeper import generations_sweep
from tests.admin.support import change_url
from tests.conftest import login
from tests.factories import UserFactory
from tests.studio.lifecycle.support import submit

pytestmark = pytest.mark.django_db(transaction=True)


def logs(api, generation_id: str) -> dict:
    response = api.get(f"/api/v1/studio/generation/{generation_id}/logs")
    assert response.status_code == 200, response.content
    return response.json()


def events(body: dict) -> list[str]:
    return [entry["event"] for entry in body["entries"]]


def test_a_completed_job_tells_its_story_in_order(user_api):
    generation_id = submit(user_api)
    generation_run(generation_id=generation_id)

    body = logs(user_api, generation_id)
    assert body["status"] == "completed" and body["truncated"] is False
    assert events(body) == ["queued", "claimed", "attempt", "stored", "completed"]
    queued, claimed, attempt, stored, completed = body["entries"]
    assert "4 credit(s) held" in queued["message"]
    assert claimed["data"] == {"host": socket.gethostname()[:30], "pid": os.getpid(), "attempt": 1}
    assert attempt["data"]["provider"] == "instant" and "error" not in attempt["data"]
    assert stored["data"]["files"] == 1 and stored["data"]["bytes"] > 0
    assert "charged 4 credit(s)" in completed["message"]
    times = [entry["at"] for entry in body["entries"]]
    assert times == sorted(times)


def test_a_failed_job_logs_each_provider_attempt_and_the_failure(user_api, settings):
    settings.IMAGE_PROVIDERS = ["pollinations"]
    settings.POLLINATIONS_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    generation_id = submit(user_api)
    generation_run(generation_id=generation_id)

    body = logs(user_api, generation_id)
    assert events(body) == ["queued", "claimed", "attempt", "failed"]
    attempt, failed = body["entries"][2:]
    assert attempt["data"]["provider"] == "pollinations" and attempt["data"]["error"]
    assert "failed after" in attempt["message"]
    assert "pollinations" in failed["message"] and failed["data"]["code"] == "GENERATION_FAILED"


def test_a_lost_worker_leaves_its_claim_then_the_sweeper_and_the_second_claim(user_api):
    generation_id = submit(user_api)
    assert generation_claim(generation_id=generation_id, worker="gone-host:4242:1:0badf00d")
    # The worker is killed: its lease runs out with nothing more written.
    expired = timezone.now() - timedelta(seconds=5)
    Generation.objects.filter(pk=generation_id).update(
        lease_until=expired, enqueued_at=expired - timedelta(hours=1)
    )
    assert generations_sweep().requeued == 1
    generation_run(generation_id=generation_id)

    body = logs(user_api, generation_id)
    assert events(body) == [
        "queued", "claimed", "requeued", "claimed", "attempt", "stored", "completed"
    ]  # fmt: skip
    first, requeued, second = body["entries"][1:4]
    assert first["data"] == {"host": "gone-host", "pid": 4242, "attempt": 1}
    assert "lease expired" in requeued["message"]
    assert second["data"]["attempt"] == 2 and "previous attempt" in second["message"]


def test_cancels_say_who_cancelled(user_api, user, admin_user):
    mine = submit(user_api)
    assert user_api.post(f"/api/v1/studio/generation/{mine}/cancel").status_code == 200
    theirs = submit(user_api)
    generation_cancel(user=user, generation_id=theirs, actor=admin_user)

    assert logs(user_api, mine)["entries"][-1]["message"].startswith("Cancelled by its owner")
    last = logs(user_api, theirs)["entries"][-1]
    assert last["event"] == "cancelled" and f"support ({admin_user.email})" in last["message"]


@pytest.fixture(params=["one statement", "orm"])
def writer(request, monkeypatch):
    """Each way a log is written: PostgreSQL's single statement (the ORM's on other
    databases) and the ORM's count-then-insert, so both keep the same bound."""
    if request.param == "orm":
        monkeypatch.setattr(joblog, "_insert_bounded", joblog._write_bounded)
    return request.param


def test_the_log_is_bounded_but_never_loses_an_outcome(user_api, writer):
    generation_id = submit(user_api)
    noise = [Line(LogEvent.ATTEMPT, f"try {n}") for n in range(JOB_LOG_LIMIT + 5)]
    job_log_write(generation_id, noise)
    job_log_write(generation_id, [Line(LogEvent.ATTEMPT, "one more")])
    job_log_write(generation_id, [Line(LogEvent.FAILED, "Failed: the end")])

    stored = JobLogEntry.objects.filter(generation_id=generation_id)
    assert stored.count() == JOB_LOG_LIMIT + 1
    assert not stored.filter(message="one more").exists()
    body = logs(user_api, generation_id)
    assert body["truncated"] is True and body["entries"][-1]["message"] == "Failed: the end"


def test_lines_for_a_deleted_job_are_dropped_quietly(user_api, writer):
    generation_id = submit(user_api)
    Generation.objects.filter(pk=generation_id).delete()
    job_log_write(generation_id, [Line(LogEvent.FAILED, "Failed: too late")])
    assert not JobLogEntry.objects.filter(generation_id=generation_id).exists()


def test_lines_keep_their_order_and_data(user_api, writer):
    generation_id = submit(user_api)
    job_log_write(
        generation_id,
        [
            Line(LogEvent.ATTEMPT, "first", {"n": 1}),
            Line(LogEvent.COMPLETED, "second", {"ok": True}),
        ],
    )
    stored = list(
        JobLogEntry.objects.filter(generation_id=generation_id)
        .order_by("id")
        .values_list("message", "data")
    )
    assert stored == [("first", {"n": 1}), ("second", {"ok": True})]


def test_a_log_is_its_owners_only(user_api):
    generation_id = submit(user_api)
    anonymous = APIClient()
    assert anonymous.get(f"/api/v1/studio/generation/{generation_id}/logs").status_code == 401
    stranger = login(APIClient(), UserFactory())
    response = stranger.get(f"/api/v1/studio/generation/{generation_id}/logs")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
    missing = stranger.get("/api/v1/studio/generation/img_0_0/logs")
    assert missing.status_code == 404


def test_the_gallery_page_and_the_admin_show_the_log(client, user, admin_client, user_api):
    generation_id = submit(user_api)
    generation_run(generation_id=generation_id)
    client.force_login(user)

    page = client.get(f"/gallery/{generation_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="log-title"' in html and f"Claimed by {socket.gethostname()[:30]}" in html

    admin = admin_client.get(change_url(Generation.objects.get(pk=generation_id)))
    assert admin.status_code == 200
    assert "Stored 1 file(s)" in admin.content.decode()
