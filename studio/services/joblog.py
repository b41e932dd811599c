"""Job logs: what happened to a job, as a few lines its owner and support staff can read.

A worker writes the lines of a run in one insert once the run is over (the provider
attempts, the storage writes, the outcome), and the claim as soon as it has it, so a worker
killed mid-job still leaves who had the job. Cancels, the sweeper and failures from
elsewhere write their own line. Each job keeps at most JOB_LOG_LIMIT lines; past that only
outcomes are still written, so the end of a long story is never lost. "Queued" is not stored:
the job's row has the time (`job_log_entries` puts it first).
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, connection
from django.db.models import Count
from django.utils import timezone

from studio.models import Generation, JobLogEntry, LogEvent

logger = logging.getLogger(__name__)

JOB_LOG_LIMIT = 100
OUTCOMES = {LogEvent.COMPLETED, LogEvent.FAILED, LogEvent.CANCELLED, LogEvent.DISCARDED}


@dataclass
class Line:
    event: str
    message: str
    data: dict = field(default_factory=dict)
    at: datetime | None = None


def job_log(generation_id: str, event: str, message: str, **data) -> None:
    job_log_write(generation_id, [Line(event, message, data)])


def job_log_write(generation_id: str, lines: list[Line]) -> None:
    """Append `lines` to the job's log, within its bound."""
    if not lines:
        return
    now = timezone.now()
    try:
        if connection.vendor == "postgresql":
            _insert_bounded(generation_id, lines, now)
        else:
            _write_bounded(generation_id, lines, now)
    except IntegrityError:  # deleted between the read and the write: its log went with it
        if not connection.get_autocommit():
            raise
        logger.info("job %s was deleted before its log was written", generation_id)


def _kept(lines: list[Line], written: int) -> list[Line]:
    """The lines that fit beside `written` ones; outcomes always do."""
    room = JOB_LOG_LIMIT - written
    return [line for index, line in enumerate(lines) if index < room or line.event in OUTCOMES]


def _write_bounded(generation_id: str, lines: list[Line], now) -> None:
    # The job and the size of its log in one read; a job deleted meanwhile has no log to add to.
    written = (
        Generation.objects.filter(pk=generation_id)
        .annotate(lines=Count("log_entries"))
        .values_list("lines", flat=True)
        .first()
    )
    if written is None:
        return
    JobLogEntry.objects.bulk_create(
        JobLogEntry(
            generation_id=generation_id,
            at=line.at or now,
            event=line.event,
            message=line.message[:500],
            data=line.data,
        )
        for line in _kept(lines, written)
    )


_LOG = JobLogEntry._meta.db_table
_JOB = Generation._meta.db_table
_VALUE = "(%s::int, %s::timestamptz, %s::text, %s::text, %s::jsonb, %s::bool)"


def _insert_bounded(generation_id: str, lines: list[Line], now) -> None:
    """PostgreSQL: the same bound (_kept) in one statement, instead of a count and an insert:
    each line is kept while its place is under the bound left by what is written, or when it
    is an outcome; a job deleted meanwhile joins no row."""
    values = []
    for index, line in enumerate(lines):
        values += [
            index,
            line.at or now,
            line.event,
            line.message[:500],
            json.dumps(line.data),
            line.event in OUTCOMES,
        ]
    sql = f"""
        INSERT INTO {_LOG} (generation_id, at, event, message, data)
        SELECT g.id, v.at, v.event, v.message, v.data
        FROM {_JOB} g, (VALUES {", ".join([_VALUE] * len(lines))})
             AS v(place, at, event, message, data, outcome)
        WHERE g.id = %s AND (v.outcome OR v.place < %s - (
            SELECT COUNT(*) FROM {_LOG} WHERE generation_id = %s))
        ORDER BY v.place
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, generation_id, JOB_LOG_LIMIT, generation_id])


def worker_parts(worker: str) -> dict:
    """The host and pid of a worker token (studio.services.generations._worker_token)."""
    host, _, rest = worker.partition(":")
    pid = rest.split(":", 1)[0]
    return {"host": host, "pid": int(pid) if pid.isdigit() else None}


def claimed_line(generation: Generation, worker: str) -> Line:
    where = worker_parts(worker)
    message = f"Claimed by {where['host']} (pid {where['pid']}), attempt {generation.attempts}"
    if generation.attempts > 1:
        message += ": the previous attempt's worker stopped before finishing"
    return Line(LogEvent.CLAIMED, message, {**where, "attempt": generation.attempts})


def attempt_lines(attempts) -> list[Line]:
    lines = []
    for attempt in attempts:
        seconds = f"{attempt.duration:.2f} s"
        if attempt.error:
            message = f"{attempt.provider} failed after {seconds}: {attempt.error}"
        else:
            message = f"{attempt.provider} answered in {seconds}"
        data = {"provider": attempt.provider, "seconds": round(attempt.duration, 3)}
        if attempt.error:
            data["error"] = attempt.error[:300]
        lines.append(Line(LogEvent.ATTEMPT, message, data))
    return lines


def stored_line(files: list[dict]) -> Line:
    size = sum(item.get("size", 0) for item in files)
    return Line(
        LogEvent.STORED,
        f"Stored {len(files)} file(s), {_size(size)}",
        {"files": len(files), "bytes": size},
    )


def completed_line(generation: Generation) -> Line:
    took = (generation.finished_at - generation.started_at).total_seconds()
    return Line(
        LogEvent.COMPLETED,
        f"Completed in {took:.2f} s, charged {generation.cost} credit(s)",
        {"seconds": round(took, 3)},
    )


def job_log_entries(generation: Generation) -> list[dict]:
    """The job's log for display: when it was queued, then its stored lines."""
    paid = (
        f"{generation.cost} credit(s) held"
        if generation.hold_id
        else "a step of a template run, paid by the run's hold"
    )
    queued = {
        "at": generation.created_at,
        "event": "queued",
        "message": f"Queued: {paid}",
        "data": {},
    }
    stored = [
        {"at": e.at, "event": e.event, "message": e.message, "data": e.data}
        for e in JobLogEntry.objects.filter(generation=generation).order_by("at", "id")
    ]
    return [queued, *stored]


def job_log_truncated(entries: list[dict]) -> bool:
    """Whether the log reached its bound (past it, only outcomes were kept)."""
    return len(entries) > JOB_LOG_LIMIT  # the stored lines, plus "queued"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"
