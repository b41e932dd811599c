"""Dramatiq actors: thin wrappers that pass ids to services (STYLE.md rule 6).

Images and videos have their own queues, so a burst of long videos never starves images.
"""

import dramatiq
from django.conf import settings

from studio.services import webhooks
from studio.services.execution import generation_run
from studio.services.generations import JobBusy

# Queue names may carry a prefix: RabbitMQ has no namespaces, so deployments (or test runs)
# sharing one vhost keep their queues apart with DRAMATIQ_QUEUE_PREFIX.
_PREFIX = settings.DRAMATIQ_QUEUE_PREFIX

# Grace on top of the job's own limit: the worker fails the job itself (and refunds) when it
# sees TimeLimitExceeded; the sweeper covers workers that die without seeing it.
_GRACE_MS = 30_000
# A duplicate message for a job another worker is running (JobBusy) is retried until that
# worker's lease would have run out: 12 tries with backoff up to 30 s is several minutes.
_BUSY_RETRIES = 12


def _busy_only(retries_so_far: int, exception: Exception) -> bool:
    # Everything else is handled inside generation_run (it fails and refunds the job); only
    # "someone else holds the lease" is worth trying again.
    return isinstance(exception, JobBusy) and retries_so_far < _BUSY_RETRIES


@dramatiq.actor(
    queue_name=f"{_PREFIX}images",
    retry_when=_busy_only,
    min_backoff=2_000,
    max_backoff=30_000,
    time_limit=settings.GENERATION_TIME_LIMIT["image"] * 1000 + _GRACE_MS,
)
def generate_image(generation_id: str) -> None:
    generation_run(generation_id=generation_id)


@dramatiq.actor(
    queue_name=f"{_PREFIX}videos",
    retry_when=_busy_only,
    min_backoff=2_000,
    max_backoff=30_000,
    time_limit=settings.GENERATION_TIME_LIMIT["video"] * 1000 + _GRACE_MS,
)
def generate_video(generation_id: str) -> None:
    generation_run(generation_id=generation_id)


# Backoff doubles from 30 s (30 s, 1 min, 2 min, … 32 min): eight tries span about an hour, so
# a receiver that is down for a deploy still gets its events.
@dramatiq.actor(
    queue_name=f"{_PREFIX}webhooks",
    max_retries=settings.WEBHOOK_MAX_ATTEMPTS - 1,
    min_backoff=30_000,
    max_backoff=3_600_000,
    time_limit=(settings.WEBHOOK_TIMEOUT + 30) * 1000,
)
def deliver_webhook(delivery_id: str) -> None:
    """One delivery attempt; raising makes Dramatiq retry it later with backoff."""
    webhooks.delivery_attempt(delivery_id=delivery_id)
