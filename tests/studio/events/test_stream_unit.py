"""GET /studio/generation/<id>/events through Django's ASGI handler, in this process, on the
in-process hub (core.events.LocalHub: the embedded mode, workers are threads of the web
process).

The job runs the worker's own code (generation_run) in a thread, with a provider whose
progress steps the test lets through one at a time; the test reads the stream as it arrives.
"""

import pytest
from django.test import Client

from core import events
from studio.models import Generation, Status
from studio.services.execution import ProgressReporter, generation_run
from studio.services.generations import generation_claim
from tests.conftest import ERROR_KEYS, assert_error, login
from tests.factories import UserFactory
from tests.studio.events.support import (
    DETAIL,
    EVENTS,
    TERMINAL_ID,
    AsgiGet,
    GatedProvider,
    comparable,
)
from tests.studio.lifecycle.support import IMAGE, QUEUES, InThread

# The stream reads the job from other threads than the test's: their connections must see
# what the test committed.
pytestmark = pytest.mark.django_db(transaction=True)

PROGRESS_KEYS = {"id", "status", "progress", "stage", "label", "estimated_remaining"}


@pytest.fixture(autouse=True)
def _studio(settings, media_storage, monkeypatch):
    settings.RATELIMIT_ENABLE = False
    settings.EVENTS_URL = None  # the in-process hub
    settings.IMAGE_PROVIDERS = ["gated"]
    # Each step of the provider is written at once (not only after 0.1 s): what the test
    # releases is what the stream must show.
    monkeypatch.setattr("studio.services.execution.PROGRESS_MIN_GAP", 0)


@pytest.fixture(autouse=True)
def _broker():
    """Submissions enqueue messages nobody consumes here (the test runs the job itself)."""
    import dramatiq

    broker = dramatiq.get_broker()
    yield
    for queue in QUEUES:
        broker.flush(queue)


@pytest.fixture
def provider(monkeypatch):
    from studio import engine
    from studio.providers import get_provider

    gated = GatedProvider()
    monkeypatch.setattr(
        engine, "get_provider", lambda name: gated if name == "gated" else get_provider(name)
    )
    yield gated
    gated.release()


@pytest.fixture
def owner():
    return UserFactory(credits=100)


@pytest.fixture
def bearer(api, owner) -> dict[str, str]:
    login(api, owner)
    return {"Authorization": api._credentials["HTTP_AUTHORIZATION"]}


@pytest.fixture
def job_id(api, bearer) -> str:
    """A queued image job of `owner`'s."""
    response = api.post(IMAGE, {"prompt": "A lighthouse at dawn"}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


@pytest.fixture
def jobs():
    """Start generation_run (the worker's code) in a thread; joined at the end."""
    started: list[InThread] = []

    def start(generation_id: str) -> InThread:
        job = InThread(lambda: generation_run(generation_id=generation_id))
        started.append(job)
        return job

    yield start
    for job in started:
        job.result()


@pytest.fixture(autouse=True)
def _no_subscriber_left():
    yield
    assert events.hub().subscriber_count() == 0, "a stream left its subscription behind"


def stream(
    generation_id: str, headers: dict[str, str], last: int | None = None, handoff: bool = True
) -> AsgiGet:
    headers = {"Accept": "text/event-stream", **headers}
    if last is not None:
        headers["Last-Event-ID"] = str(last)
    return AsgiGet(EVENTS.format(generation_id), headers, handoff=handoff)


def detail(generation_id: str, headers: dict[str, str]) -> dict:
    response = AsgiGet(DETAIL.format(generation_id), headers)
    assert response.status_code == 200
    return response.json()


def opened(response: AsgiGet) -> None:
    """A stream's answer: 200, an uncached event stream, the reconnect hint first."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "no-cache, no-transform"
    assert response["X-Accel-Buffering"] == "no"
    first = response.next_frame()
    assert first.raw == "retry: 3000" and first.retry == 3000


def progress(frame, *, id: int, status: str, percent: int, stage: str) -> None:
    assert frame.event == "progress", frame
    assert frame.id == id, frame
    assert set(frame.data) == PROGRESS_KEYS, frame.data
    assert (frame.data["status"], frame.data["progress"], frame.data["stage"]) == (
        status,
        percent,
        stage,
    ), frame.data
    assert isinstance(frame.data["label"], str) and frame.data["label"]
    assert isinstance(frame.data["estimated_remaining"], int)
    assert frame.data["estimated_remaining"] >= 0


# --- The stream of one job -------------------------------------------------------------------


@pytest.mark.parametrize("handoff", [True, False], ids=["handed-off", "streamed-by-django"])
def test_each_state_change_is_an_event_then_the_final_body_and_the_stream_ends(
    bearer, job_id, provider, jobs, handoff
):
    response = stream(job_id, bearer, handoff=handoff)
    opened(response)
    queued = response.next_frame()
    progress(queued, id=0, status="queued", percent=0, stage="queued")
    assert queued.data["id"] == job_id
    # The wire format, byte for byte: id, event, one line of compact JSON, a blank line.
    assert queued.raw.split("\n")[:2] == ["id: 0", "event: progress"]
    assert queued.raw.split("\n")[2].startswith('data: {"id":"')

    job = jobs(job_id)
    # Sequence: attempt * 101 + percent; the provider's percent is 90 % of the job's.
    progress(response.next_event(), id=101, status="generating", percent=0, stage="starting")
    for percent in (18, 45, 72):
        assert provider.step() * 90 // 100 == percent
        progress(
            response.next_event(),
            id=101 + percent,
            status="generating",
            percent=percent,
            stage="generating",
        )
    provider.finish()
    progress(response.next_event(), id=193, status="generating", percent=92, stage="saving")
    final = response.next_event()
    assert (final.event, final.id) == ("completed", TERMINAL_ID)
    assert response.next_frame() is None, "the stream goes on after its final event"
    job.result()

    body = detail(job_id, bearer)
    assert body["status"] == "completed" and body["progress"] == 100
    assert comparable(final.data) == comparable(body)
    assert final.data["url"].startswith("http://testserver/media/")
    assert final.data["url"].split("?")[1], "the final body's URLs are signed"


def test_a_reconnect_with_last_event_id_gets_only_newer_states_and_loses_none(
    bearer, job_id, provider, jobs
):
    first = stream(job_id, bearer)
    opened(first)
    assert first.next_event().id == 0
    jobs(job_id)
    assert first.next_event().id == 101
    provider.step()
    seen = first.next_event()
    assert (seen.id, seen.data["progress"]) == (119, 18)
    first.disconnect()
    assert events.hub().subscriber_count() == 0

    # Two changes while nobody listens.
    provider.step()
    provider.step()
    assert Generation.objects.get(pk=job_id).progress == 72

    again = stream(job_id, bearer, last=seen.id)
    opened(again)
    # Not 119 again; the state it missed (72 supersedes 45) at once, without waiting.
    progress(again.next_event(), id=173, status="generating", percent=72, stage="generating")
    # A client that already has the current state gets nothing until the next change.
    # (EventSource polyfills that cannot set headers send the id in the query.)
    up_to_date = AsgiGet(EVENTS.format(job_id), bearer, query="lastEventId=173")
    opened(up_to_date)

    provider.finish()
    for response in (again, up_to_date):
        events_after = response.rest()
        assert [e.id for e in events_after] == [193, TERMINAL_ID], events_after
        assert events_after[-1].event == "completed"

    # Reconnecting after the end: the final event once more to a client that missed it…
    late = stream(job_id, bearer, last=193)
    opened(late)
    assert [(e.event, e.id) for e in late.rest()] == [("completed", TERMINAL_ID)]
    # …and 204 to one that has it, which tells EventSource to stop reconnecting.
    done = stream(job_id, bearer, last=TERMINAL_ID)
    assert done.status_code == 204 and done.content == b""


def test_ids_only_grow_and_a_second_attempt_sorts_after_the_first(bearer, job_id, provider, jobs):
    """A worker lost mid-job: its lease runs out, another claims the job again and starts at
    0 % — later than anything the first attempt reported, so no client takes it for old."""
    response = stream(job_id, bearer)
    opened(response)
    assert response.next_event().id == 0
    lost = generation_claim(generation_id=job_id, worker="lost-worker")
    assert response.next_event().id == 101
    ProgressReporter(lost, "lost-worker").write(80)
    assert response.next_event().data["progress"] == 80
    Generation.objects.filter(pk=job_id).update(lease_until=lost.started_at)  # expired

    jobs(job_id)
    retried = response.next_event()
    progress(retried, id=202, status="generating", percent=0, stage="starting")
    for _ in provider.steps:
        provider.step()
    provider.finish()
    rest = [retried, *response.rest()]
    ids = [0, 101, 181, *(e.id for e in rest)]
    assert ids == sorted(set(ids)), ids
    assert rest[-1].event == "completed"


def test_the_final_event_of_a_failed_and_a_cancelled_job_is_its_body(
    api, bearer, job_id, provider, jobs
):
    provider.fail = True
    response = stream(job_id, bearer)
    opened(response)
    job = jobs(job_id)
    for _ in provider.steps:
        provider.step()
    provider.finish()
    final = response.rest()[-1]
    job.result()
    assert (final.event, final.id) == ("failed", TERMINAL_ID)
    body = detail(job_id, bearer)
    assert body["status"] == "failed" and body["retry_possible"] is True
    assert final.data == body

    queued = api.post(IMAGE, {"prompt": "A harbour at night"}, format="json").json()["id"]
    response = stream(queued, bearer)
    opened(response)
    assert response.next_event().data["status"] == "queued"
    assert api.post(f"{DETAIL.format(queued)}/cancel").status_code == 200
    final = response.next_event()
    assert (final.event, final.id) == ("cancelled", TERMINAL_ID)
    assert final.data == detail(queued, bearer)
    assert final.data["error"] == "Cancelled by user"
    assert response.next_frame() is None


def test_an_idle_stream_sends_a_heartbeat_comment(settings, bearer, job_id):
    settings.SSE_HEARTBEAT = 0.05
    response = stream(job_id, bearer)
    opened(response)
    assert response.next_event().data["status"] == "queued"
    for _ in range(2):
        beat = response.next_frame()
        assert (beat.raw, beat.event, beat.id) == (": heartbeat", None, None)
    response.disconnect()


def test_a_lost_notification_is_made_good_by_the_periodic_reread(settings, bearer, job_id):
    """A change that never reached the hub (a dropped message) still reaches the client, at
    the next reconcile."""
    settings.SSE_HEARTBEAT = 0.05
    settings.SSE_RECONCILE = 0.1
    response = stream(job_id, bearer)
    opened(response)
    assert response.next_event().data["status"] == "queued"
    Generation.objects.filter(pk=job_id).update(status=Status.CANCELLED, error="gone")
    final = response.next_event()
    assert (final.event, final.id) == ("cancelled", TERMINAL_ID)
    assert final.data == detail(job_id, bearer)
    assert response.next_frame() is None


def test_a_finished_job_streams_its_final_event_at_once(api, bearer, job_id):
    assert api.post(f"{DETAIL.format(job_id)}/cancel").status_code == 200
    for last in (None, 5, "not-a-number"):
        response = stream(job_id, bearer, last=last)
        opened(response)
        events_ = response.rest()
        assert [(e.event, e.id) for e in events_] == [("cancelled", TERMINAL_ID)], last


# --- Who may read it ---------------------------------------------------------------------


def test_a_session_cookie_opens_the_stream_as_a_bearer_token_does(owner, bearer, job_id):
    browser = Client()
    browser.force_login(owner)
    cookie = {"Cookie": f"sessionid={browser.cookies['sessionid'].value}"}
    for headers in (cookie, bearer):
        for handoff in (True, False):
            response = stream(job_id, headers, handoff=handoff)
            opened(response)
            assert response.next_event().data["id"] == job_id
            response.disconnect()


def test_another_users_or_an_unknown_job_is_404_in_the_error_format_before_any_stream(
    job_id, stranger
):
    other = {"Authorization": stranger._credentials["HTTP_AUTHORIZATION"]}
    for generation_id, last in ((job_id, None), (job_id, TERMINAL_ID), ("img_missing", None)):
        response = stream(generation_id, other, last=last)
        body = assert_error(response, 404, "NOT_FOUND", "Generation not found")
        assert set(body) == ERROR_KEYS


def test_without_valid_credentials_it_is_401_in_the_error_format(job_id):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Cookie": "sessionid=nope"}):
        # EventSource asks for text/event-stream; the refusal is JSON all the same.
        assert_error(stream(job_id, headers), 401, "UNAUTHORIZED")
