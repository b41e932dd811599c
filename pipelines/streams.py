"""Server-Sent Events for one execution: its body, the running step's progress, and the final
body, after which the stream ends.

Events:
- `execution`: the body of GET /executions/<id>; first (the current state), then each time
  the execution's channel (pipelines.events) says it changed: a step finished and the next
  one was queued, a retry started.
- `progress`: `{number, job, status, progress, stage, label, estimated_remaining}` of the
  running step (`number` from 1, `job` its studio job's id, `status` queued|running as the
  body's steps show it), made from the notifications of the step's job channel
  (studio.events) without reading the database; notifications that arrive together make one
  event, of the newest state.
- `completed`, `failed` or `cancelled`: the final body; then the stream ends.

Like a job's stream (studio.streams) it runs in the ASGI server's event loop after Django has
finished the request (core.asgi): no thread, no database connection held while it waits. It
subscribes to the execution's channel *before* reading the execution, and to the current
step's job channel before reading it again, so no change slips between a read and the next
notification; every SSE_RECONCILE seconds of silence it reads again, in case one was lost.

Event ids order the states of an execution, so a client that reconnects with
`Last-Event-ID` gets only what is newer than what it saw:

    id = attempt * 1_000_000 + finished steps * 10_000 + the current job's sequence

`attempt` is the execution's (1 + retries), `finished steps` how many steps have completed
(at most spec.MAX_STEPS), the job's sequence studio.events.sequence (its claims * 101 + its
percent, at most 1 110). A step's job only moves forward, the next step starts with one more
step finished, and a retry has one more attempt (and keeps the steps done before it), so ids
only grow. The final event's id is the top of its attempt, `attempt * 1_000_000 + 999_999`
(`final_sequence`): above everything of that attempt, below everything of a retry, so a
client holding the final id of a failed run still hears of the retry that follows.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings

from core import events
from organizations.workspace import visible_to
from pipelines import presenters
from pipelines.events import execution_channel
from pipelines.models import Execution
from studio import presenters as studio_presenters
from studio.events import job_channel
from studio.models import ACTIVE, Generation
from studio.services.operations import provider_chain
from studio.streams import RETRY_MS, Job, frame, release_connections

logger = logging.getLogger(__name__)

ATTEMPT_SPAN = 1_000_000  # ids of one attempt
STEP_SPAN = 10_000  # ids of one step of an attempt (a job's sequence stays below 1 111)
FINAL_STATUSES = ("completed", "failed", "cancelled")
STEP_STATUS = {"generating": "running", "queued": "queued"}  # job status -> step status
EXECUTION = "execution"  # the execution channel's key among a stream's subscriptions
READS = 3  # reads of one load, at most, to get a body and a job state that agree


def sequence(*, attempt: int, finished: int, job: int) -> int:
    return attempt * ATTEMPT_SPAN + finished * STEP_SPAN + min(job, STEP_SPAN - 1)


def final_sequence(attempt: int) -> int:
    """The id of an attempt's final event: above any other of its ids, below the next's."""
    return (attempt + 1) * ATTEMPT_SPAN - 1


@dataclass
class Run:
    """What a stream knows of its execution: the body it read, and the running step's job
    (kept up to date from the job's notifications between reads)."""

    body: dict
    number: int | None = None  # the current step's, from 1
    job: Job | None = None

    @property
    def job_id(self) -> str | None:
        return self.job.id if self.job is not None else None

    @property
    def finished(self) -> bool:
        return self.body["status"] in FINAL_STATUSES

    @property
    def sequence(self) -> int:
        attempt = self.body["attempt"]
        if self.finished:
            return final_sequence(attempt)
        done = sum(1 for step in self.body["steps"] if step["status"] == "completed")
        job = self.job.sequence if self.job is not None and not self.job.finished else 0
        return sequence(attempt=attempt, finished=done, job=job)

    def progress_data(self) -> dict:
        data = self.job.progress_data()
        return {
            "number": self.number,
            "job": data.pop("id"),
            **data,
            "status": STEP_STATUS.get(data["status"], data["status"]),
        }


def _current_step(body: dict) -> dict | None:
    """The step that runs or waits for a worker (None when the execution is finished)."""
    if body["status"] in FINAL_STATUSES:
        return None
    for step in body["steps"]:
        if step["status"] in ("queued", "running") and step["job"]:
            return step
    return None


def _job(generation: Generation) -> Job:
    return Job(
        id=generation.pk,
        kind=generation.kind,
        operation=generation.operation,
        estimate=studio_presenters.estimated_seconds(generation, provider_chain(generation)),
        status=generation.status,
        progress=generation.progress,
        attempts=generation.attempts,
        started=generation.started_at.timestamp() if generation.started_at else None,
    )


def load(execution_id: str, user_id, request) -> Run | None:
    """The execution as a stream needs it (sync database reads; None when it is gone)."""
    try:
        for _ in range(READS):
            # Read as GET /executions/<id> reads it (a lookup takes the user's id as well as the
            # user): a member removed from the organization loses the stream at the next read.
            execution = Execution.objects.filter(visible_to(user_id), pk=execution_id).first()
            if execution is None:
                return None
            run = Run(body=presenters.execution_detail(execution, request))
            step = _current_step(run.body)
            if step is None:
                return run
            generation = Generation.objects.filter(pk=step["job"]).first()
            if generation is None:
                return run
            run.number, run.job = step["number"], _job(generation)
            if generation.status in ACTIVE:
                return run
            # The job finished after the body was read: the transaction that finished it also
            # moved the execution on, so the next read sees where it went.
        return run
    finally:
        release_connections()


_load = sync_to_async(load, thread_sensitive=False)


class Subscriptions:
    """The channels a stream listens to (the execution's, the current job's), their messages
    merged into one queue, each tagged with what it is about (EXECUTION or the job's id)."""

    def __init__(self):
        self.queue: asyncio.Queue = asyncio.Queue()
        self.job: str | None = None
        self._open: dict[str, tuple[events.Subscription, asyncio.Task]] = {}

    async def add(self, key: str, name: str) -> None:
        subscription = await events.subscribe(name)
        pump = asyncio.get_running_loop().create_task(self._pump(key, subscription))
        self._open[key] = (subscription, pump)

    async def follow_job(self, job_id: str | None) -> None:
        """Listen to `job_id`'s channel instead of the previous job's."""
        if self.job is not None:
            await self._remove(self.job)
        self.job = job_id
        if job_id is not None:
            await self.add(job_id, job_channel(job_id))

    async def _pump(self, key: str, subscription: events.Subscription) -> None:
        while True:  # nothing is lost if cancelled: an item leaves its queue only on get
            self.queue.put_nowait((key, await subscription.queue.get()))

    async def _remove(self, key: str) -> None:
        subscription, pump = self._open.pop(key)
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
        await subscription.close()

    async def next(self, timeout: float) -> list[tuple[str, dict]]:
        """Every message that has arrived, waiting up to `timeout` for the first one;
        TimeoutError when none came."""
        messages = [await asyncio.wait_for(self.queue.get(), timeout)]
        while not self.queue.empty():
            messages.append(self.queue.get_nowait())
        return messages

    async def close(self) -> None:
        for key in list(self._open):
            await self._remove(key)


async def execution_events(
    *, execution_id: str, user_id, request, last_seen: int
) -> AsyncIterator[str]:
    """The stream's body (see the module's docstring)."""
    subscriptions = Subscriptions()
    try:
        await subscriptions.add(EXECUTION, execution_channel(execution_id))
        yield f"retry: {RETRY_MS}\n\n"
        run = await _load(execution_id, user_id, request)
        reconciled = time.monotonic()
        while run is not None:
            if not run.finished and run.job_id != subscriptions.job:
                # A new current step: its job's channel first, then read again, so nothing
                # it does between the read above and the subscription is missed.
                await subscriptions.follow_job(run.job_id)
                run = await _load(execution_id, user_id, request)
                reconciled = time.monotonic()
                continue
            if run.sequence > last_seen:
                last_seen = run.sequence
                name = run.body["status"] if run.finished else "execution"
                yield frame(name, run.body, last_seen)
            if run.finished:
                return
            try:
                messages = await subscriptions.next(timeout=settings.SSE_HEARTBEAT)
            except TimeoutError:
                yield ": heartbeat\n\n"
                if time.monotonic() - reconciled < settings.SSE_RECONCILE:
                    continue
                messages = [(EXECUTION, events.RESYNC)]
            reread = any(key == EXECUTION or message.get("resync") for key, message in messages)
            if reread:
                run = await _load(execution_id, user_id, request)
                reconciled = time.monotonic()
                if run is None:
                    return
            for key, message in messages:
                # Over the read, if there was one: a state is told after it is written, so the
                # read is no older, and Job.update keeps the newer of the two. A finished job
                # says nothing: the execution's channel tells what its end changed (in the
                # same transaction); an earlier step's job is past.
                if key == run.job_id and message.get("status") in ACTIVE:
                    run.job.update(message)
            if reread:
                continue  # to send the body, as `execution`, if it is newer
            if run.sequence > last_seen:
                last_seen = run.sequence
                yield frame("progress", run.progress_data(), last_seen)
    except asyncio.CancelledError:  # the client went away
        raise
    finally:
        await subscriptions.close()
