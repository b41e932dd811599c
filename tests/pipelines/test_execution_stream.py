"""GET /executions/<id>/events: an execution's body, its running step's progress and its final
body as Server-Sent Events.

The stream tests go through Django's ASGI handler in this process (tests.studio.events
.support.AsgiGet) on the in-process hub, the first step's job running the worker's code in a
thread with a provider the test steps through; the end-to-end ones through the site's ASGI
application (config.asgi) under uvicorn, read with httpx, the notifications on Redis when
REDIS_URL is given. Nothing sleeps: a test waits for a frame, with a deadline.
"""

import asyncio
import socket
import threading
import time

import httpx
import pytest
import uvicorn
from asgiref.sync import async_to_sync
from django.db import connections
from rest_framework.test import APIClient

from core import events
from pipelines.events import execution_channel
from pipelines.models import Execution
from studio.events import job_channel
from studio.services.execution import generation_run
from tests.conftest import ERROR_KEYS, assert_error, login
from tests.factories import UserFactory
from tests.pipelines.support import BASE, create, execute, queued_job, run_next, two_steps
from tests.studio.events.support import (
    WAIT,
    AsgiGet,
    FrameReader,
    GatedProvider,
    _ClosingExecutor,
    comparable,
)
from tests.studio.lifecycle.support import InThread

pytestmark = pytest.mark.django_db(transaction=True)

EVENTS = BASE + "/executions/{}/events"
DETAIL = BASE + "/executions/{}"
FINAL = 1_999_999  # the final event's id in a first attempt
PROGRESS_KEYS = {"number", "job", "status", "progress", "stage", "label", "estimated_remaining"}


@pytest.fixture(autouse=True)
def _every_report_told(monkeypatch):
    """Each progress report of a provider is written (and told) at once."""
    monkeypatch.setattr("studio.services.execution.PROGRESS_MIN_GAP", 0)


@pytest.fixture(autouse=True)
def _broker():
    """Executions enqueue their steps; nobody consumes here (the tests run them)."""
    import dramatiq

    yield
    broker = dramatiq.get_broker()
    for queue in broker.get_declared_queues():
        broker.flush(queue)


@pytest.fixture
def local_hub(settings):
    settings.EVENTS_URL = None  # in-process: the embedded mode


@pytest.fixture
def provider(settings, monkeypatch):
    """Step 1 (an image) runs on a provider the test steps through."""
    from studio import engine
    from studio.providers import get_provider

    settings.IMAGE_PROVIDERS = ["gated"]
    gated = GatedProvider()
    monkeypatch.setattr(
        engine, "get_provider", lambda name: gated if name == "gated" else get_provider(name)
    )
    yield gated
    gated.release()


@pytest.fixture
def owner_api(api):
    return login(api, UserFactory(credits=100))


@pytest.fixture
def bearer(owner_api) -> dict[str, str]:
    return {"Authorization": owner_api._credentials["HTTP_AUTHORIZATION"]}


@pytest.fixture
def execution_id(owner_api) -> str:
    """A two-step execution of the owner's, its first step queued."""
    template = create(owner_api, two_steps())
    response = execute(owner_api, template["id"], {"subject": "a kite"})
    assert response.status_code == 202, response.content
    return response.json()["id"]


@pytest.fixture
def threads():
    started: list[InThread] = []

    def start(call) -> InThread:
        started.append(InThread(call))
        return started[-1]

    yield start
    for thread in started:
        thread.result()


def stream(execution_id: str, headers, last=None, query: str = "", handoff=True) -> AsgiGet:
    headers = {"Accept": "text/event-stream", **headers}
    if last is not None:
        headers["Last-Event-ID"] = str(last)
    return AsgiGet(EVENTS.format(execution_id), headers, query=query, handoff=handoff)


def opened(response) -> AsgiGet:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "no-cache, no-transform"
    assert response.next_frame().retry == 3000
    return response


def detail(execution_id: str, headers) -> dict:
    return AsgiGet(DETAIL.format(execution_id), headers).json()


def progress(frame, *, id: int, number: int, status: str, percent: int, stage: str) -> None:
    assert (frame.event, frame.id) == ("progress", id), frame
    assert set(frame.data) == PROGRESS_KEYS, frame.data
    data = frame.data
    assert (data["number"], data["status"], data["progress"], data["stage"]) == (
        number,
        status,
        percent,
        stage,
    ), data
    assert data["label"] and data["estimated_remaining"] >= 0


def check_hub_is_empty() -> None:
    assert events.hub().subscriber_count() == 0, "a stream left its subscription behind"


# --- The stream (Django's ASGI handler, in-process hub) ------------------------------------


@pytest.mark.usefixtures("local_hub")
@pytest.mark.parametrize("handoff", [True, False], ids=["handed-off", "streamed-by-django"])
def test_the_body_then_each_steps_progress_then_the_final_body(
    bearer, execution_id, provider, threads, handoff
):
    response = opened(stream(execution_id, bearer, handoff=handoff))
    first = response.next_event()
    assert (first.event, first.id) == ("execution", 1_000_000)
    assert first.data == detail(execution_id, bearer)
    assert first.raw.split("\n")[:2] == ["id: 1000000", "event: execution"]
    job_1 = first.data["steps"][0]["job"]

    job = threads(lambda: generation_run(generation_id=job_1))
    # id = attempt * 1e6 + finished steps * 1e4 + the job's sequence (claims * 101 + percent).
    progress(response.next_event(), id=1_000_101, number=1, status="running", percent=0,
             stage="starting")  # fmt: skip
    for percent in (18, 45, 72):
        provider.step()
        progress(response.next_event(), id=1_000_101 + percent, number=1, status="running",
                 percent=percent, stage="generating")  # fmt: skip
    provider.finish()
    saving = response.next_event()
    progress(saving, id=1_000_193, number=1, status="running", percent=92, stage="saving")
    assert saving.data["job"] == job_1
    job.result()

    second = response.next_event()
    assert (second.event, second.id) == ("execution", 1_010_000)
    assert second.data["currentStep"] == 2
    assert [s["status"] for s in second.data["steps"]] == ["completed", "queued"]
    job_2 = second.data["steps"][1]["job"]
    # It has left step 1's job channel for step 2's: two subscriptions, its execution's and that.
    assert events.hub().subscriber_count() == 2

    threads(lambda: generation_run(generation_id=job_2)).result()
    *steps, final = response.rest()
    progress(steps[0], id=1_010_101, number=2, status="running", percent=0, stage="starting")
    assert {frame.data["job"] for frame in steps} == {job_2}
    assert [frame.id for frame in steps] == sorted({frame.id for frame in steps})
    assert (final.event, final.id) == ("completed", FINAL)
    assert final.data["status"] == "completed" and final.data["progress"] == 100
    assert [s["status"] for s in final.data["steps"]] == ["completed", "completed"]
    assert comparable(final.data) == comparable(detail(execution_id, bearer))
    assert response.ended
    check_hub_is_empty()


@pytest.mark.usefixtures("local_hub")
def test_a_reconnect_gets_only_what_is_newer_and_204_once_it_has_the_end(
    settings, bearer, execution_id, provider, threads
):
    settings.SSE_HEARTBEAT = 0.05  # a stream's heartbeat: it has read what it reads at start
    first = opened(stream(execution_id, bearer))
    job_1 = first.next_event().data["steps"][0]["job"]
    threads(lambda: generation_run(generation_id=job_1))
    assert first.next_event().id == 1_000_101
    provider.step()
    seen = first.next_event()
    assert seen.id == 1_000_119
    first.disconnect()

    provider.step()  # two changes while nobody listens
    provider.step()
    again = opened(stream(execution_id, bearer, last=seen.id))
    missed = again.next_event()  # the current state at once: the body, as it is now
    assert (missed.event, missed.id) == ("execution", 1_000_173)
    assert (missed.data["steps"][0]["status"], missed.data["steps"][0]["progress"]) == (
        "running",
        72,
    )
    # Up to date already: nothing until the next change (the id may come in the query).
    current = opened(stream(execution_id, bearer, query="lastEventId=1000173"))
    # (SQLite's in-memory database locks a table a reader reads: no write until it waits.)
    assert current.next_frame().raw == ": heartbeat"

    provider.finish()
    for response in (again, current):
        assert [e.id for e in (response.next_event(), response.next_event())] == [
            1_000_193,
            1_010_000,
        ]
    run_next(execution_id)
    for response in (again, current):
        assert response.rest()[-1].id == FINAL

    late = opened(stream(execution_id, bearer, last=1_010_000))
    assert [(e.event, e.id) for e in late.rest()] == [("completed", FINAL)]
    done = stream(execution_id, bearer, last=FINAL)
    assert done.status_code == 204 and done.content == b""
    check_hub_is_empty()


@pytest.mark.usefixtures("local_hub")
def test_a_failed_run_ends_with_failed_and_its_retry_sorts_after_it(
    owner_api, bearer, execution_id, provider, threads
):
    provider.fail = True
    response = opened(stream(execution_id, bearer))
    job_1 = response.next_event().data["steps"][0]["job"]
    threads(lambda: generation_run(generation_id=job_1))
    provider.release()
    final = response.rest()[-1]
    assert (final.event, final.id) == ("failed", FINAL)
    assert [s["status"] for s in final.data["steps"]] == ["failed", "skipped"]
    assert final.data["retry_possible"] is True
    assert final.data == detail(execution_id, bearer)
    assert stream(execution_id, bearer, last=FINAL).status_code == 204

    assert owner_api.post(f"{DETAIL.format(execution_id)}/retry").status_code == 202
    # The client that has the failed run's end hears of the retry: attempt 2's ids are above.
    retried = opened(stream(execution_id, bearer, last=FINAL))
    event = retried.next_event()
    assert (event.event, event.id, event.data["attempt"]) == ("execution", 2_000_000, 2)
    retried.disconnect()
    check_hub_is_empty()


@pytest.mark.usefixtures("local_hub")
def test_a_cancel_ends_the_stream_and_a_finished_run_streams_its_end_at_once(
    owner_api, bearer, execution_id
):
    response = opened(stream(execution_id, bearer))
    assert response.next_event().data["status"] == "queued"
    assert owner_api.post(f"{DETAIL.format(execution_id)}/cancel").status_code == 200
    final = response.next_event()
    assert (final.event, final.id) == ("cancelled", FINAL)
    assert final.data == detail(execution_id, bearer)
    assert response.next_frame() is None

    for last in (None, 5, "not-a-number", 1_010_000):
        events_ = opened(stream(execution_id, bearer, last=last)).rest()
        assert [(e.event, e.id) for e in events_] == [("cancelled", FINAL)], last
    check_hub_is_empty()


@pytest.mark.usefixtures("local_hub")
def test_progress_comes_from_the_jobs_notifications_and_stale_ones_send_nothing(
    owner_api, bearer, execution_id
):
    response = opened(stream(execution_id, bearer))
    job_1 = response.next_event().data["steps"][0]["job"]
    now = time.time()

    def told(percent: int, status: str = "generating", channel: str | None = None) -> None:
        state = {"status": status, "progress": percent, "attempts": 1, "started": now}
        events.publish(channel or job_channel(job_1), state)

    told(40)  # the database still says queued: the event is the notification's
    progress(response.next_event(), id=1_000_141, number=1, status="running", percent=40,
             stage="generating")  # fmt: skip
    told(10)  # older than what the stream knows (out of order)
    told(100, status="completed")  # the execution's channel tells what a job's end means
    told(90, channel=job_channel("img_another"))
    told(60)
    assert response.next_event().id == 1_000_161

    # "Look again" with nothing new: the body is read, and not sent again.
    events.publish(execution_channel(execution_id), {"changed": True})
    events.publish(execution_channel(execution_id), {"changed": True})
    told(70)  # (after the read or over it: the first thing sent after those)
    assert response.next_event().id == 1_000_171
    assert owner_api.post(f"{DETAIL.format(execution_id)}/cancel").status_code == 200
    assert (response.next_event().event, response.next_frame()) == ("cancelled", None)
    check_hub_is_empty()


@pytest.mark.usefixtures("local_hub")
def test_heartbeats_and_a_lost_notification_made_good_by_the_periodic_reread(
    settings, bearer, execution_id
):
    settings.SSE_HEARTBEAT = 0.05
    settings.SSE_RECONCILE = 3600
    response = opened(stream(execution_id, bearer))
    assert response.next_event().id == 1_000_000
    for _ in range(2):
        beat = response.next_frame()
        assert (beat.raw, beat.event, beat.id) == (": heartbeat", None, None)
    # A change nobody told the channels of; the stream reads again at its next reconcile.
    Execution.objects.filter(pk=execution_id).update(status="cancelled", error="gone")
    settings.SSE_RECONCILE = 0.1
    final = response.next_event()
    assert (final.event, final.id, final.data["error"]) == ("cancelled", FINAL, "gone")
    assert response.next_frame() is None
    check_hub_is_empty()


@pytest.mark.usefixtures("local_hub")
def test_someone_elses_or_an_unknown_execution_is_404_and_no_credentials_401(execution_id):
    stranger = login(APIClient(), UserFactory())
    other = {"Authorization": stranger._credentials["HTTP_AUTHORIZATION"]}
    for target, last in ((execution_id, None), (execution_id, FINAL), ("exe_missing", None)):
        body = assert_error(stream(target, other, last=last), 404, "NOT_FOUND")
        assert set(body) == ERROR_KEYS and body["error"] == "Execution not found"
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        assert_error(stream(execution_id, headers), 401, "UNAUTHORIZED")
    check_hub_is_empty()


# --- End to end: the site's ASGI application under uvicorn, over HTTP -----------------------


class Site:
    """config.asgi's application under uvicorn, on a port of its own, in a thread that
    enters it through async_to_sync: the views' sync code runs on that thread, which closes
    its database connections at the end (as do the streams' reads, on _ClosingExecutor)."""

    def __init__(self):
        from config.asgi import application

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)  # connections wait in the backlog until uvicorn is up
        self.base = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(application, lifespan="off", log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="uvicorn", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            async_to_sync(self._serve)()
        finally:
            connections.close_all()

    async def _serve(self) -> None:
        pool = _ClosingExecutor(max_workers=4)
        asyncio.get_running_loop().set_default_executor(pool)
        try:
            await self._server.serve(sockets=[self._socket])
        finally:
            pool.shutdown(wait=True)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def http():
    site = Site()
    try:
        with httpx.Client(base_url=site.base, timeout=WAIT) as client:
            yield client
    finally:
        site.stop()
    check_hub_is_empty()


class HttpStream:
    """A streaming GET of an execution's events, frame by frame as the bytes arrive (a read
    that waits longer than WAIT fails: httpx's read timeout)."""

    def __init__(self, http: httpx.Client, execution_id: str, headers):
        headers = {"Accept": "text/event-stream", **headers}
        self._request = http.stream("GET", EVENTS.format(execution_id), headers=headers)
        self.response = self._request.__enter__()
        assert self.response.status_code == 200, self.response.read()
        assert self.response.headers["content-type"] == "text/event-stream; charset=utf-8"
        self._chunks = self.response.iter_text()
        self._reader, self._pending = FrameReader(), []

    def next_event(self):
        """The next event; None once the server has ended the stream."""
        while True:
            while not self._pending:
                chunk = next(self._chunks, None)
                if chunk is None:
                    assert not self._reader.rest, self._reader.rest
                    return None
                self._pending.extend(self._reader.feed(chunk))
            frame = self._pending.pop(0)
            if frame.event is not None:
                return frame

    def until(self, name: str) -> list:
        """The events up to and with the next `name` one."""
        found = [self.next_event()]
        while found[-1] is not None and found[-1].event != name:
            found.append(self.next_event())
        assert found[-1] is not None, f"the stream ended before a {name} event: {found}"
        return found

    def close(self) -> None:
        self._request.__exit__(None, None, None)


def test_end_to_end_a_two_step_run_streams_each_step_then_completed(http, bearer, execution_id):
    events_ = HttpStream(http, execution_id, bearer)
    try:
        first = events_.next_event()
        assert (first.event, first.id, first.data["status"]) == ("execution", 1_000_000, "queued")

        # The stream is on step 1's job channel before it sends its first event: what the
        # worker tells from here on reaches it (over Redis when REDIS_URL is set).
        run_next(execution_id)
        *step_1, second = events_.until("execution")
        assert step_1 and {(e.event, e.data["number"]) for e in step_1} == {("progress", 1)}
        # From the claim (1 000 101: claims * 101 + 0 %) on; notifications that arrive
        # together make one event, of the latest state.
        assert step_1[0].id >= 1_000_101 and step_1[-1].id < 1_010_000
        assert (second.id, second.data["currentStep"]) == (1_010_000, 2)

        run_next(execution_id)
        *step_2, final = events_.until("completed")
        assert step_2 and {(e.event, e.data["number"]) for e in step_2} == {("progress", 2)}
        assert step_2[0].id >= 1_010_101
        ids = [first.id, *(e.id for e in step_1), second.id, *(e.id for e in step_2), final.id]
        assert ids == sorted(set(ids)), ids
        assert final.id == FINAL
        assert [s["status"] for s in final.data["steps"]] == ["completed", "completed"]
        assert final.data["steps"][1]["output"]["url"].startswith(str(http.base_url))
        body = http.get(DETAIL.format(execution_id), headers=bearer).json()
        assert comparable(final.data) == comparable(body)
        assert events_.next_event() is None
    finally:
        events_.close()

    again = http.get(EVENTS.format(execution_id), headers={**bearer, "Last-Event-ID": str(FINAL)})
    assert (again.status_code, again.content) == (204, b"")


def test_end_to_end_a_failed_step_ends_the_stream_with_failed(http, bearer, execution_id, provider):
    provider.fail = True
    provider.release()  # no waiting: it refuses at once
    events_ = HttpStream(http, execution_id, bearer)
    try:
        assert events_.next_event().event == "execution"
        run_next(execution_id)
        final = events_.until("failed")[-1]
        assert final.id == FINAL
        assert [s["status"] for s in final.data["steps"]] == ["failed", "skipped"]
        assert "the model refused" in final.data["error"]
        assert events_.next_event() is None
    finally:
        events_.close()
    assert queued_job(execution_id) is None


def test_end_to_end_someone_elses_execution_is_404_and_no_credentials_401(http, execution_id):
    stranger = login(APIClient(), UserFactory())._credentials["HTTP_AUTHORIZATION"]
    for headers, status, code in (
        ({"Authorization": stranger}, 404, "NOT_FOUND"),
        ({}, 401, "UNAUTHORIZED"),
    ):
        response = http.get(
            EVENTS.format(execution_id), headers={"Accept": "text/event-stream", **headers}
        )
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert set(response.json()) == ERROR_KEYS and response.json()["code"] == code
