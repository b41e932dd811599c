"""An execution's changes as notifications (core.events), like a job's (studio.events): the
execution's channel hears of every step that starts, finishes or fails, after commit; a
running step's progress is on its job's own channel."""

from django.db import transaction

from core import events


def execution_channel(execution_id: str) -> str:
    return f"execution:{execution_id}"


def execution_published(execution) -> None:
    """ "Look again": sent once the current transaction (if any) commits."""
    name = execution_channel(execution.pk)
    transaction.on_commit(lambda: events.publish(name, {"changed": True}), robust=True)
