"""GET /studio/generation/<id>/events end to end, across processes: the site under uvicorn
(production settings) and a separate `manage.py rundramatiq` worker on the Redis broker, on
this run's PostgreSQL, Redis and SeaweedFS; the test is an HTTP client (httpx).

The worker reports progress in its own process; the only way the server's stream learns of
it is Redis pub/sub (core.events). The server is told to send no heartbeat and to re-read
the job only once an hour (SSE_HEARTBEAT, SSE_RECONCILE), so every event after the first one
of a stream was carried by a notification, not found by polling.

Server and worker are started per test: the flush after a transactional test re-creates the
content types under new ids, which a process kept across tests would still have cached.
"""

import os
import re
import uuid
from pathlib import Path

import httpx
import pytest
import redis
from django.conf import settings as django_settings

from tests.conftest import assert_error
from tests.factories import PASSWORD, UserFactory
from tests.fakes.processes import AsgiServer, production_env
from tests.studio.events.support import (
    DETAIL,
    EVENTS,
    TERMINAL_ID,
    WAIT,
    FrameReader,
    comparable,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.s3,
    pytest.mark.django_db(transaction=True),
]

IMAGE = "/api/v1/studio/generate-image"
PROGRESS_KEYS = {"id", "status", "progress", "stage", "label", "estimated_remaining"}
# The local provider paints a 2048 x 2048 picture in most of a second, reporting as it goes:
# long enough for progress reports (written at most every 0.1 s) to reach the stream.
SLOW_SIZE = "2048x2048"


# --- The processes ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _server_password_hashers(settings):
    """The server runs production settings, which do not know the suite's fast MD5 hasher:
    users made here must have passwords it can check."""
    from django.conf import global_settings

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS


@pytest.fixture
def site_env(s3, transactional_db) -> dict[str, str]:
    """Production settings for the server and its worker, with a broker namespace of this
    test's own (no other test's worker takes its jobs, nor it theirs)."""
    namespace = f"{os.environ['DRAMATIQ_NAMESPACE']}-sse-{uuid.uuid4().hex[:8]}"
    yield production_env(
        s3,
        DRAMATIQ_NAMESPACE=namespace,
        IMAGE_PROVIDERS="local",
        VIDEO_PROVIDERS="local",
        RATELIMIT_ENABLE="false",
        AUTH_RATE_LIMIT="1000/m",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SSE_HEARTBEAT="3600",
        SSE_RECONCILE="3600",
    )
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"{namespace}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def server(site_env):
    """The site under uvicorn; stopped before the database is flushed."""
    process = AsgiServer(site_env)
    yield process
    process.stop()


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.base, timeout=WAIT) as http:
        yield http


@pytest.fixture
def streams():
    """Opened streams, closed at the end whatever the test left open."""
    opened: list[Stream] = []
    yield opened
    for stream in opened:
        stream.close()


def sign_in(client: httpx.Client, user) -> dict[str, str]:
    """A bearer token from the server's own login endpoint."""
    response = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def submit(client: httpx.Client, headers: dict[str, str], size: str = "1024x1024") -> str:
    response = client.post(
        IMAGE, json={"prompt": "A lighthouse on a cliff at dusk", "size": size}, headers=headers
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def detail(client: httpx.Client, generation_id: str, headers: dict[str, str]) -> dict:
    response = client.get(DETAIL.format(generation_id), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# --- Reading a stream over HTTP --------------------------------------------------------------


class Stream:
    """A streaming GET of a job's events, read frame by frame as the bytes arrive. A read
    that waits longer than WAIT seconds fails (httpx's read timeout)."""

    def __init__(self, client: httpx.Client, generation_id: str, headers: dict[str, str]):
        headers = {"Accept": "text/event-stream", **headers}
        self._request = client.stream("GET", EVENTS.format(generation_id), headers=headers)
        self.response = self._request.__enter__()
        self._chunks = self.response.iter_text()
        self._reader = FrameReader()
        self._pending = []
        self.ended = False

    def next_frame(self):
        """The next frame; None once the server has ended the stream."""
        while not self._pending:
            if self.ended:
                assert not self._reader.rest, f"ended mid-frame: {self._reader.rest!r}"
                return None
            chunk = next(self._chunks, None)
            if chunk is None:
                self.ended = True
            else:
                self._pending.extend(self._reader.feed(chunk))
        return self._pending.pop(0)

    def next_event(self):
        while (frame := self.next_frame()) is not None:
            if frame.event is not None:
                return frame
        return None

    def rest(self) -> list:
        """Every event until the server ends the stream."""
        found = []
        while (frame := self.next_event()) is not None:
            found.append(frame)
        return found

    def close(self) -> None:
        self._request.__exit__(None, None, None)


def open_stream(streams, client, generation_id, headers, last: int | None = None) -> Stream:
    """A stream that has answered 200 as an event stream, its reconnect hint read."""
    if last is not None:
        headers = {**headers, "Last-Event-ID": str(last)}
    stream = Stream(client, generation_id, headers)
    streams.append(stream)
    response = stream.response
    assert response.status_code == 200, response.read()
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache, no-transform"
    first = stream.next_frame()
    assert first is not None and first.retry == 3000, first
    return stream


class Answer:
    """An httpx response as tests.conftest.assert_error reads a Django one."""

    def __init__(self, response: httpx.Response):
        self.status_code = response.status_code
        self.content = response.content
        self._response = response

    def __getitem__(self, name: str) -> str:
        return self._response.headers[name]

    def json(self) -> dict:
        return self._response.json()


def refused_before_any_stream(response: httpx.Response, status: int, code: str) -> None:
    """An error in the JSON error format, and no event stream at all."""
    assert "text/event-stream" not in response.headers.get("content-type", "")
    assert_error(Answer(response), status, code)


# --- The tests -------------------------------------------------------------------------------


def test_progress_from_the_worker_arrives_over_redis_then_the_final_body_then_the_end(
    client, streams, site_env, start_worker
):
    owner = UserFactory(credits=100)
    headers = sign_in(client, owner)
    generation_id = submit(client, headers, size=SLOW_SIZE)

    stream = open_stream(streams, client, generation_id, headers)
    queued = stream.next_event()
    assert (queued.event, queued.id, queued.data["status"]) == ("progress", 0, "queued"), queued

    # No worker has run yet: whatever the stream says from here on, it heard from the worker.
    start_worker(site_env)
    *progress, final = stream.rest()

    assert progress, "no progress event while the job ran"
    assert [frame.event for frame in progress] == ["progress"] * len(progress)
    ids = [queued.id] + [frame.id for frame in progress]
    assert ids == sorted(set(ids)), f"event ids not increasing: {ids}"
    for frame in progress:
        assert set(frame.data) == PROGRESS_KEYS, frame.data
        assert frame.data["id"] == generation_id
        assert frame.data["status"] == "generating", frame.data
    percents = [frame.data["progress"] for frame in progress]
    assert percents == sorted(percents), percents
    assert any(percent > 0 for percent in percents), f"no provider report reached it: {ids}"

    assert (final.event, final.id) == ("completed", TERMINAL_ID), final
    body = detail(client, generation_id, headers)
    assert body["status"] == "completed" and body["metadata"]["source"] == "local", body
    assert comparable(final.data) == comparable(body)
    assert stream.ended and stream.next_frame() is None


def test_a_reconnect_after_the_end_gets_204_or_only_the_final_event(
    client, streams, site_env, start_worker
):
    owner = UserFactory(credits=100)
    headers = sign_in(client, owner)
    generation_id = submit(client, headers)
    start_worker(site_env)
    final = open_stream(streams, client, generation_id, headers).rest()[-1]
    assert (final.event, final.id) == ("completed", TERMINAL_ID), final

    # EventSource reconnects with the last id it saw: it has the end, so it is told to stop.
    again = client.get(
        EVENTS.format(generation_id), headers={**headers, "Last-Event-ID": str(final.id)}
    )
    assert again.status_code == 204, again.text
    assert again.content == b""

    body = comparable(detail(client, generation_id, headers))
    for earlier in (0, final.id - 1):
        resumed = open_stream(streams, client, generation_id, headers, last=earlier).rest()
        assert [(frame.event, frame.id) for frame in resumed] == [("completed", TERMINAL_ID)]
        assert comparable(resumed[0].data) == body


def test_someone_elses_job_an_unknown_one_and_no_credentials_are_refused_before_any_stream(
    client,
):
    owner = UserFactory(credits=100)
    owner_headers = sign_in(client, owner)
    generation_id = submit(client, owner_headers)  # queued: no worker runs here
    stranger = sign_in(client, UserFactory())
    accept = {"Accept": "text/event-stream"}

    refused_before_any_stream(
        client.get(EVENTS.format(generation_id), headers={**accept, **stranger}),
        404,
        "NOT_FOUND",
    )
    refused_before_any_stream(
        client.get(EVENTS.format("gen_" + uuid.uuid4().hex), headers={**accept, **owner_headers}),
        404,
        "NOT_FOUND",
    )
    refused_before_any_stream(
        client.get(EVENTS.format(generation_id), headers=accept), 401, "UNAUTHORIZED"
    )


def threads_of(process) -> int:
    status = Path(f"/proc/{process.pid}/status").read_text()
    return int(re.search(r"^Threads:\s+(\d+)", status, re.MULTILINE).group(1))


def test_open_streams_hold_no_database_connection_and_no_thread(site_env, streams):
    """A pool of 2 connections and 16 streams open at once: the API still answers at once,
    and the server has not grown a thread per stream. (A stream that kept its request's
    thread would keep the connection its view took: the pool's 2 would be gone, and the next
    request would wait for one until DATABASE_POOL_TIMEOUT, then fail.)"""
    small = AsgiServer({**site_env, "DATABASE_POOL_SIZE": "2", "DATABASE_POOL_TIMEOUT": "3"})
    try:
        with httpx.Client(base_url=small.base, timeout=WAIT) as client:
            owner = UserFactory(credits=100)
            headers = sign_in(client, owner)
            queued = [submit(client, headers) for _ in range(16)]  # no worker: they wait
            before = threads_of(small.process)
            for generation_id in queued:
                stream = open_stream(streams, client, generation_id, headers)
                first = stream.next_event()
                assert (first.event, first.data["status"]) == ("progress", "queued"), first
            # The loop's executor may start a few threads for the streams' first reads.
            assert threads_of(small.process) - before < len(queued) // 2

            for generation_id in queued:
                assert detail(client, generation_id, headers)["status"] == "queued"
            submit(client, headers)
            for stream in streams:
                stream.close()
            streams.clear()
    finally:
        small.stop()
