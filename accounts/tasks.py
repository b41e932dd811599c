"""Dramatiq actors of accounts: thin wrappers that pass ids to services (STYLE.md rule 6)."""

import dramatiq
from django.conf import settings

from accounts.services_export import EXPORT_TIME_LIMIT, export_run


# Exports have a queue of their own: one large account's ZIP never holds up images.
# Not retried: a build that failed is marked failed and the person asks again; a lost
# worker's export is sent again by the sweeper.
@dramatiq.actor(
    queue_name=f"{settings.DRAMATIQ_QUEUE_PREFIX}exports",
    max_retries=0,
    time_limit=int(EXPORT_TIME_LIMIT.total_seconds() * 1000),
)
def build_export(export_id: str) -> None:
    export_run(export_id=export_id)
