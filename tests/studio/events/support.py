"""Helpers of the event stream tests: an SSE parser, GET requests through Django's ASGI
handler in a thread of their own (the test thread stays free to move the job along and to
read what arrives, with a timeout), and a provider whose steps the test lets through.

Nothing here sleeps: a test waits for a frame of the stream, a report of the provider or the
end of a thread, each with a deadline.
"""

import asyncio
import contextlib
import json
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from asgiref.sync import async_to_sync
from django.core.handlers.asgi import ASGIHandler
from django.db import connections

from core.asgi import HandoffApplication
from studio.providers.base import Output, ProviderError
from studio.providers.instant import png_of_size

EVENTS = "/api/v1/studio/generation/{}/events"
DETAIL = "/api/v1/studio/generation/{}"
TERMINAL_ID = 100_000  # the id of a stream's final event (studio.events.TERMINAL_SEQUENCE)
WAIT = 20  # seconds: how long a test waits for anything before it fails


# --- Server-Sent Events ----------------------------------------------------------------------


@dataclass
class Frame:
    """One block of an event stream (the text up to a blank line), as a browser reads it."""

    raw: str
    id: int | None = None
    event: str | None = None
    data: dict | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: str) -> "Frame":
        frame = cls(raw=raw)
        data_lines = []
        for line in raw.split("\n"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                frame.comments.append(value)
            elif name == "id":
                frame.id = int(value)
            elif name == "event":
                frame.event = value
            elif name == "data":
                data_lines.append(value)
            elif name == "retry":
                frame.retry = int(value)
            else:
                raise AssertionError(f"unknown field {name!r} in {raw!r}")
        if data_lines:
            frame.data = json.loads("\n".join(data_lines))
        return frame


class FrameReader:
    """Cuts text chunks, however they were split on the wire, into frames."""

    def __init__(self):
        self._buffer = ""

    def feed(self, text: str) -> list[Frame]:
        self._buffer += text.replace("\r\n", "\n")
        *blocks, self._buffer = self._buffer.split("\n\n")
        return [Frame.parse(block) for block in blocks if block]

    @property
    def rest(self) -> str:
        return self._buffer


def comparable(body: dict) -> dict:
    """`body` with signed URLs cut before their query: a signature carries the time it was
    made (and S3's the second), so two readings of one job differ in nothing else."""

    def cut(value):
        if isinstance(value, dict):
            return {key: cut(item) for key, item in value.items()}
        if isinstance(value, list):
            return [cut(item) for item in value]
        if isinstance(value, str) and "://" in value and "?" in value:
            parts = urlsplit(value)
            return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        return value

    return cut(body)


# --- Requests through the ASGI handler -------------------------------------------------------

_END = object()


class _ClosingExecutor(ThreadPoolExecutor):
    """The request loop's default executor, where sync_to_async(thread_sensitive=False) runs
    (the stream's database reads): each call closes the connections it opened, so none is
    left behind in a pool thread when the test's database is flushed or dropped."""

    def submit(self, fn, /, *args, **kwargs):
        def call():
            try:
                return fn(*args, **kwargs)
            finally:
                connections.close_all()

        return super().submit(call)


class AsgiGet:
    """GET `path` through Django's ASGI application (as uvicorn calls it), in a thread of its
    own. The response's start and body arrive in the background; `disconnect()` tells the
    application the client went away (http.disconnect).

    The thread enters the application through async_to_sync, so the view's thread-sensitive
    code runs on that thread, which closes its database connections when the request ends."""

    def __init__(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        query: str = "",
        handoff: bool = True,
    ):
        # As config.asgi serves it (long bodies handed off, core.asgi), or Django's handler
        # alone (the view then streams in its response).
        self._application = HandoffApplication(ASGIHandler()) if handoff else ASGIHandler()
        self.status_code: int | None = None
        self.headers: dict[str, str] = {}
        self.error: BaseException | None = None
        self._chunks: queue.Queue = queue.Queue()
        self._started = threading.Event()
        self._ended = False
        self._reader = FrameReader()
        self._pending: list[Frame] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gone: asyncio.Event | None = None
        self._scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": [
                (b"host", b"testserver"),
                *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self._thread = threading.Thread(target=self._run, name="asgi-get", daemon=True)
        self._thread.start()
        assert self._started.wait(WAIT), f"no response to GET {path} within {WAIT}s"
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            async_to_sync(self._serve)()
        except BaseException as exc:  # handed to the test thread
            self.error = exc
        finally:
            connections.close_all()
            self._chunks.put(_END)
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._gone = asyncio.Event()
        pool = _ClosingExecutor(max_workers=4)
        self._loop.set_default_executor(pool)
        requested = False

        async def receive():
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await self._gone.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                self.status_code = message["status"]
                self.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
                self._started.set()
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    self._chunks.put(message["body"])
                if not message.get("more_body", False):
                    self._chunks.put(_END)

        try:
            await self._application(self._scope, receive, send)
        finally:
            pool.shutdown(wait=True)

    # Reading -----------------------------------------------------------------------------

    def __getitem__(self, name: str) -> str:
        return self.headers[name.lower()]

    def _chunk(self, timeout: float):
        try:
            return self._chunks.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"nothing arrived within {timeout}s") from None

    @property
    def content(self) -> bytes:
        """The whole body (for a response that ends by itself)."""
        parts = []
        while (chunk := self._chunk(WAIT)) is not _END:
            parts.append(chunk)
        self._ended = True
        self.close()
        return b"".join(parts)

    def json(self) -> dict:
        return json.loads(self.content)

    def next_frame(self, timeout: float = WAIT) -> Frame | None:
        """The next frame of the stream; None when the stream has ended."""
        pending = self._pending
        while not pending:
            if self._ended:
                assert not self._reader.rest, f"the stream ended mid-frame: {self._reader.rest!r}"
                return None
            chunk = self._chunk(timeout)
            if chunk is _END:
                self._ended = True
                continue
            pending.extend(self._reader.feed(chunk.decode()))
        return pending.pop(0)

    def next_event(self, timeout: float = WAIT) -> Frame | None:
        """The next frame that is an event (comments and the retry hint skipped)."""
        while (frame := self.next_frame(timeout)) is not None:
            if frame.event is not None:
                return frame
        return None

    def rest(self, timeout: float = WAIT) -> list[Frame]:
        """Every event until the stream ends by itself."""
        events = []
        while (frame := self.next_event(timeout)) is not None:
            events.append(frame)
        return events

    @property
    def ended(self) -> bool:
        return self._ended

    # Ending -------------------------------------------------------------------------------

    def disconnect(self) -> None:
        """The client goes away; returns once the application has finished the request."""
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # it ended meanwhile: its loop is closed
                self._loop.call_soon_threadsafe(self._gone.set)
        self.close()

    def close(self) -> None:
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), f"the request still runs after {WAIT}s"
        if self.error is not None:
            raise self.error


# --- A provider the test steps through ------------------------------------------------------


class GatedProvider:
    """An image provider that reports each of `steps` (percent) only when the test lets it
    (`step()`, which returns once the report was made), and answers when told (`finish()`),
    with a picture or, with `fail=True`, an error."""

    name = "gated"

    def __init__(self, steps=(20, 50, 80), *, fail: bool = False):
        self.steps, self.fail = tuple(steps), fail
        self._go: queue.Queue = queue.Queue()
        self._reported: queue.Queue = queue.Queue()

    def generate_image(self, request, progress) -> Output:
        for percent in self.steps:
            self._wait()
            progress(percent)
            self._reported.put(percent)
        self._wait()
        if self.fail:
            raise ProviderError("gated: the model refused")
        return Output(png_of_size(16, 16), "image/png", 16, 16, {})

    def _wait(self) -> None:
        try:
            self._go.get(timeout=WAIT)
        except queue.Empty:
            raise ProviderError("gated: the test never let the job go on") from None

    def step(self) -> int:
        """Let the next progress report through; returns its percent once it is written."""
        self._go.put(True)
        try:
            return self._reported.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError("the provider made no progress report") from None

    def finish(self) -> None:
        self._go.put(True)

    def release(self) -> None:
        """Let everything through (teardown: no job thread is left waiting)."""
        for _ in range(len(self.steps) + 1):
            self._go.put(True)
