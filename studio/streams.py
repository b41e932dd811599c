"""Server-Sent Events for one job: `progress` while it runs, then one of `completed`, `failed`
or `cancelled` with the body of GET /studio/generation/<id>, and the stream ends.

The stream runs in the ASGI server's event loop, sent after Django has finished its request
(core.asgi), so it holds no thread and no database connection while it waits: it subscribes to the
job's channel (studio.events) *before* reading the row, so no change can slip between the
two; after that it reads the database only to render the final body, when its notifications
may have been lost (a resync), and every SSE_RECONCILE seconds as a safety net.

Event ids are the job's state sequence (studio.events.sequence): a client that reconnects
with `Last-Event-ID` gets the current state if it is newer than what it saw, and nothing it
has already seen.
"""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from core import events
from studio import presenters
from studio.events import TERMINAL_SEQUENCE, job_channel, sequence
from studio.models import ACTIVE, Generation
from studio.services.operations import provider_chain

logger = logging.getLogger(__name__)

RETRY_MS = 3000  # how long EventSource waits before reconnecting


@dataclass
class Job:
    """What a stream knows of its job: the parts that never change, and its state."""

    id: str
    kind: str
    operation: str
    estimate: int
    status: str
    progress: int
    attempts: int
    started: float | None
    body: dict | None = None  # the finished job's GET body

    @property
    def sequence(self) -> int:
        return sequence(self.status, self.attempts, self.progress)

    @property
    def finished(self) -> bool:
        return self.status not in ACTIVE

    def update(self, state: dict) -> None:
        """Take a notified state, unless it is older than what we know (out of order)."""
        if "status" not in state:
            return
        newer = sequence(state["status"], state.get("attempts", 0), state.get("progress", 0))
        if newer < self.sequence:
            return
        self.status = state.get("status", self.status)
        self.progress = state.get("progress", self.progress)
        self.attempts = state.get("attempts", self.attempts)
        self.started = state.get("started", self.started)

    def progress_data(self) -> dict:
        key, label = presenters.stage(
            kind=self.kind, operation=self.operation, status=self.status, progress=self.progress
        )
        return {
            "id": self.id,
            "status": self.status,
            "progress": self.progress,
            "stage": key,
            "label": label,
            "estimated_remaining": presenters.remaining_seconds(
                estimate=self.estimate,
                status=self.status,
                started=self.started,
                progress=self.progress,
                now=time.time(),
            ),
        }


def last_event_id(request) -> int:
    """The sequence a reconnecting client saw last (-1: none, send the current state)."""
    raw = request.headers.get("Last-Event-ID") or request.GET.get("lastEventId") or ""
    try:
        return int(raw.strip()) if raw.strip() else -1
    except ValueError:
        return -1


def load(generation_id: str, user_id, request) -> Job | None:
    """The job as a stream needs it (a sync database read; None when it is gone)."""
    try:
        generation = (
            Generation.objects.filter(pk=generation_id, user_id=user_id)
            .select_related("hold")
            .first()
        )
        if generation is None:
            return None
        chain = provider_chain(generation)
        job = Job(
            id=generation.id,
            kind=generation.kind,
            operation=generation.operation,
            estimate=presenters.estimated_seconds(generation, chain),
            status=generation.status,
            progress=generation.progress,
            attempts=generation.attempts,
            started=generation.started_at.timestamp() if generation.started_at else None,
        )
        if job.finished:
            job.body = presenters.generation_detail(generation, chain, request)
        return job
    finally:
        release_connections()


def release_connections() -> None:
    """Hand this thread's database connections back (to the pool, or closed). Streams are
    long and many: one that kept a connection between its rare reads would run a pool dry at
    its size, or PostgreSQL at max_connections, with idle streams."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:  # a test's transaction: not ours to end
            connection.close()


_load = sync_to_async(load, thread_sensitive=False)


def frame(event: str, data: dict, event_id: int) -> str:
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event_id}\nevent: {event}\ndata: {payload}\n\n"


async def job_events(*, generation_id: str, user_id, request, last_seen: int) -> AsyncIterator[str]:
    """The stream's body (see the module's docstring)."""
    subscription = await events.subscribe(job_channel(generation_id))
    try:
        yield f"retry: {RETRY_MS}\n\n"
        job = await _load(generation_id, user_id, request)
        if job is None:
            return
        reconciled = time.monotonic()
        while True:
            if job.sequence > last_seen:
                last_seen = job.sequence
                if job.finished:
                    if job.body is None:  # a notification told us: read the final body
                        job = await _load(generation_id, user_id, request)
                        if job is None:
                            return
                    yield frame(job.status, job.body, TERMINAL_SEQUENCE)
                    return
                yield frame("progress", job.progress_data(), last_seen)
            try:
                message = await subscription.get(timeout=settings.SSE_HEARTBEAT)
            except TimeoutError:
                yield ": heartbeat\n\n"
                if time.monotonic() - reconciled >= settings.SSE_RECONCILE:
                    reconciled = time.monotonic()
                    message = events.RESYNC
                else:
                    continue
            if message.get("resync"):
                fresh = await _load(generation_id, user_id, request)
                if fresh is None:
                    return
                job = fresh
            else:
                job.update(message)
    except asyncio.CancelledError:  # the client went away
        raise
    finally:
        await subscription.close()
