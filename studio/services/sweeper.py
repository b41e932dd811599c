"""Recovery of jobs whose worker or message was lost (manage.py sweep_generations, cron every
minute; the embedded mode runs it at start-up and then periodically). Also the upkeep of
users' data exports: expiry after a day (their ZIPs are deleted) and lost builds."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from accounts.services_export import ExportSweep, exports_sweep
from studio.models import DeliveryStatus, Generation, LogEvent, Status, WebhookDelivery
from studio.services.generations import enqueue, generation_fail
from studio.services.joblog import job_log

logger = logging.getLogger(__name__)

# How far past its time limit a running job may go before the sweeper fails it. The worker
# itself fails a job at its limit; this covers workers that died without noticing.
OVERDUE_GRACE = timedelta(seconds=60)


# A pending webhook delivery untouched for this long lost its message (the broker was down when
# its generation finished): longer than the retry schedule's longest wait.
DELIVERY_STALE_AFTER = timedelta(hours=2)


@dataclass
class SweepResult:
    failed: int = 0
    requeued: int = 0
    deliveries: int = 0
    exports: ExportSweep | None = None

    def __str__(self) -> str:
        text = (
            f"failed {self.failed} overdue job(s), re-enqueued {self.requeued} job(s) and "
            f"{self.deliveries} webhook delivery(ies)"
        )
        return f"{text}; {self.exports}" if self.exports else text


def generations_sweep(*, now: datetime | None = None) -> SweepResult:
    now = now or timezone.now()
    result = SweepResult()
    for kind, seconds in settings.GENERATION_TIME_LIMIT.items():
        overdue = Generation.objects.filter(
            kind=kind,
            status=Status.GENERATING,
            started_at__lt=now - timedelta(seconds=seconds) - OVERDUE_GRACE,
        )
        for generation in overdue.iterator():
            if generation_fail(
                generation=generation,
                worker=None,
                error=f"Timed out: still running after the {seconds} s limit",
            ):
                result.failed += 1

    # Running under an expired lease: its worker died (SIGKILL, lost machine). Its message
    # may come back by itself, or not (StubBroker restart, a broker that lost it): send a new
    # one; whichever arrives first claims the job, the other finds nothing to do.
    lost_worker = Generation.objects.filter(status=Status.GENERATING, lease_until__lt=now)
    # Queued long enough that its message may have been lost.
    stale = now - timedelta(seconds=settings.QUEUED_STALE_AFTER)
    lost_message = Generation.objects.filter(status=Status.QUEUED, enqueued_at__lt=stale)
    recently = now - timedelta(seconds=settings.GENERATION_LEASE)
    for generation in (lost_worker | lost_message).exclude(enqueued_at__gte=recently).iterator():
        # Conditional, so two sweepers running at once enqueue a job once.
        if Generation.objects.filter(
            pk=generation.pk, status=generation.status, enqueued_at=generation.enqueued_at
        ).update(enqueued_at=now):
            enqueue(generation)
            result.requeued += 1
            why = (
                "its worker stopped (lease expired)"
                if generation.status == Status.GENERATING
                else "its message may have been lost"
            )
            job_log(generation.pk, LogEvent.REQUEUED, f"Sent to the workers again: {why}")
    result.deliveries = deliveries_resend_stale(now=now)
    # Users' data exports: expired ones (and their files) go, lost builds are sent again.
    result.exports = exports_sweep(now=now)
    if result.failed or result.requeued or result.deliveries or result.exports:
        logger.info("sweep: %s", result)
    return result


def deliveries_resend_stale(*, now: datetime) -> int:
    """Send again pending webhook deliveries whose message was lost."""
    from studio.tasks import deliver_webhook

    cutoff = now - DELIVERY_STALE_AFTER
    stale = (
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, created_at__lt=cutoff)
        .filter(attempts__lt=settings.WEBHOOK_MAX_ATTEMPTS)
        .annotate(last_try=Max("attempt_log__created_at"))
        .filter(Q(last_try__isnull=True) | Q(last_try__lt=cutoff))
    )
    sent = 0
    for delivery_id in stale.values_list("pk", flat=True):
        deliver_webhook.send(delivery_id)
        sent += 1
    return sent
