"""A job's state changes as notifications (core.events): every write that moves a job
(claim, progress, completion, failure, cancel) tells the job's channel, after it commits.

A notification carries the state (status, progress, attempt), so an open stream can send a
progress event without reading the database; `sequence` orders states, and is the stream's
event id: a reconnecting client says the last one it saw and gets only what is newer.
"""

from django.db import transaction
from django.utils import timezone

from core import events
from studio.models import ACTIVE, Generation

# Above any active state's sequence: attempts are at most 10, progress at most 100.
TERMINAL_SEQUENCE = 100_000


def job_channel(generation_id: str) -> str:
    return f"job:{generation_id}"


def sequence(status: str, attempts: int, progress: int) -> int:
    """Orders a job's states: queued (0) < each claim's progress < finished. A claim after a
    lost worker restarts progress at 0 but has one attempt more, so it still sorts later."""
    if status not in ACTIVE:
        return TERMINAL_SEQUENCE
    return attempts * 101 + min(progress, 100)


def job_state(generation: Generation) -> dict:
    started = generation.started_at
    return {
        "status": generation.status,
        "progress": generation.progress,
        "attempts": generation.attempts,
        "started": started.timestamp() if started else None,
    }


def job_published(generation: Generation, **changes) -> None:
    """Tell the job's channel its state, once the current transaction (if any) commits."""
    state = {**job_state(generation), **changes}
    name = job_channel(generation.pk)
    transaction.on_commit(lambda: events.publish(name, state), robust=True)


def progress_published(
    *, generation_id: str, progress: int, attempts: int, started_at, status="generating"
) -> None:
    """A worker's progress report (written outside any transaction: sent at once)."""
    events.publish(
        job_channel(generation_id),
        {
            "status": status,
            "progress": progress,
            "attempts": attempts,
            "started": (started_at or timezone.now()).timestamp(),
        },
    )
