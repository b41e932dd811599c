"""Prometheus metrics: their definitions, the calls that count them, and GET /metrics.

Counters and histograms are counted where things happen: requests by the middleware here,
jobs in the studio's services, webhook deliveries, event streams. With
PROMETHEUS_MULTIPROC_DIR set (in the environment before a process starts: prometheus_client
reads it on import), every process, web and worker, writes its values to files in that
directory, and a scrape of any web process adds them all up; otherwise the values are this
process's own (the embedded mode, whose workers are threads of the web process). What is
really database state (jobs waiting or running, open holds, held credits) is read from the
database at scrape time, so it is right whichever process answers.
"""

import contextlib
import hmac
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from functools import partial

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Count, F, Min, Sum
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

# `_created` series would double what is exported for nothing a dashboard uses.
disable_created_metrics()

# Seconds: image jobs take seconds, videos minutes (VIDEO_TIME_LIMIT is 20 minutes).
_JOB_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200)
_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)

REQUESTS = Counter(
    "craftframe_http_requests",
    "HTTP requests answered, by URL pattern, method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "craftframe_http_request_duration_seconds",
    "Time to answer an HTTP request (an event stream: until its headers are sent).",
    ["route", "method"],
)
JOBS_FINISHED = Counter(
    "craftframe_jobs_finished",
    "Jobs that reached a final status, by type, status and the provider that made (or last "
    "tried) the result.",
    ["type", "status", "provider"],
)
JOB_SECONDS = Histogram(
    "craftframe_job_duration_seconds",
    "From a worker's claim to the final status, of jobs that were claimed.",
    ["type", "status"],
    buckets=_JOB_BUCKETS,
)
QUEUE_WAIT = Histogram(
    "craftframe_job_queue_wait_seconds",
    "From being enqueued to being claimed by a worker.",
    ["type"],
    buckets=_WAIT_BUCKETS,
)
PROVIDER_ERRORS = Counter(
    "craftframe_provider_errors",
    "Provider attempts that failed (the chain then tried the next provider).",
    ["type", "provider"],
)
WEBHOOK_DELIVERIES = Counter(
    "craftframe_webhook_deliveries",
    "Webhook delivery outcomes: delivered; retrying (an attempt failed, another follows); "
    "failed (given up).",
    ["outcome"],
)
# livesum: in multiprocess mode the open streams of live processes, added up.
SSE_STREAMS = Gauge(
    "craftframe_sse_streams_open",
    "Server-Sent Events streams open now.",
    multiprocess_mode="livesum",
)

_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


# --- Counting ---------------------------------------------------------------------------------


def _route(request) -> str:
    """The URL pattern that answered, never the path itself: one series per route, however
    many ids the paths carry."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return "/" + match.route if match.route else match.view_name or "unnamed"
    if request.path.startswith(settings.STATIC_URL):
        return "static"  # whitenoise answers before URL resolution
    return "unmatched"


class MetricsMiddleware:
    """Count and time every request (first in MIDDLEWARE, so it times all the others)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not settings.METRICS_ENABLED:
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        route = _route(request)
        method = request.method if request.method in _METHODS else "other"
        REQUESTS.labels(route, method, str(response.status_code)).inc()
        REQUEST_SECONDS.labels(route, method).observe(time.perf_counter() - started)
        return response


def job_claimed(job) -> None:
    """A worker took `job` (a studio Generation): how long it waited in the queue."""
    if job.enqueued_at and job.started_at:
        waited = (job.started_at - job.enqueued_at).total_seconds()
        QUEUE_WAIT.labels(job.kind).observe(max(0.0, waited))


def _provider(job) -> str:
    if job.source:
        return job.source
    tried = job.provider_attempts or []
    return tried[-1].get("provider", "none") if tried else "none"


def job_finished(job) -> None:
    """`job` (a studio Generation) reached its final status in the current transaction:
    counted once that commits, so a rolled-back finish counts nothing."""
    labels = (job.kind, job.status, _provider(job))
    seconds = None
    if job.started_at and job.finished_at:
        seconds = max(0.0, (job.finished_at - job.started_at).total_seconds())
    transaction.on_commit(partial(_count_finished, labels, seconds))


def _count_finished(labels: tuple[str, str, str], seconds: float | None) -> None:
    JOBS_FINISHED.labels(*labels).inc()
    if seconds is not None:
        JOB_SECONDS.labels(labels[0], labels[1]).observe(seconds)


def provider_errors(kind: str, attempts: Iterable) -> None:
    """Count the failed provider attempts of one run of a job (studio.engine.Attempt)."""
    for attempt in attempts:
        if attempt.error and attempt.error != "cancelled":  # a cancel is not the provider's
            PROVIDER_ERRORS.labels(kind, attempt.provider).inc()


def webhook_delivery(outcome: str) -> None:
    """`delivered`, `retrying` or `failed`."""
    WEBHOOK_DELIVERIES.labels(outcome).inc()


def counted_stream(body: Callable[[], AsyncIterator[str]]) -> Callable[[], AsyncIterator[str]]:
    """`body` (an event stream's factory), counted in SSE_STREAMS while it is being sent."""

    async def counted() -> AsyncIterator[str]:
        with SSE_STREAMS.track_inprogress():
            # aclosing: a client that goes away closes the stream itself (its subscription).
            async with contextlib.aclosing(body()) as parts:
                async for part in parts:
                    yield part

    return counted


# --- State read at scrape time ------------------------------------------------------------------


class DatabaseState:
    """Gauges of what the database holds now, read with two aggregate queries per scrape."""

    def collect(self):
        from studio.models import ACTIVE, Kind

        up = GaugeMetricFamily("craftframe_state_up", "1 when the database state was read.")
        try:
            jobs, holds = _active_jobs(), _open_holds()
        except DatabaseError as exc:  # the other metrics are still worth a scrape
            logger.warning("metrics: database state unavailable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        now = timezone.now()
        active = GaugeMetricFamily(
            "craftframe_jobs_active", "Jobs queued or running, by type.", labels=["type", "status"]
        )
        oldest = GaugeMetricFamily(
            "craftframe_job_oldest_queued_age_seconds",
            "Age of the oldest queued job (0 when none waits).",
            labels=["type"],
        )
        for kind in Kind.values:
            for status in ACTIVE:
                count, _ = jobs.get((kind, status), (0, None))
                active.add_metric([kind, status], count)
            _, enqueued = jobs.get((kind, ACTIVE[0]), (0, None))
            oldest.add_metric([kind], (now - enqueued).total_seconds() if enqueued else 0)
        yield active
        yield oldest
        yield GaugeMetricFamily("craftframe_holds_open", "Credit holds open.", value=holds[0])
        yield GaugeMetricFamily(
            "craftframe_credits_held", "Credits reserved by open holds.", value=holds[1]
        )
        yield GaugeMetricFamily(
            "craftframe_hold_oldest_open_age_seconds",
            "Age of the oldest open hold (0 when none; renew_tokens releases expired ones).",
            value=(now - holds[2]).total_seconds() if holds[2] else 0,
        )


def _active_jobs() -> dict[tuple[str, str], tuple[int, object]]:
    from studio.models import ACTIVE, Generation

    rows = (
        Generation.objects.filter(status__in=ACTIVE)
        .values_list("kind", "status")
        .annotate(count=Count("pk"), oldest=Min("enqueued_at"))
        .order_by()
    )
    return {(kind, status): (count, oldest) for kind, status, count, oldest in rows}


def _open_holds() -> tuple[int, int, object]:
    from tokens.models import Hold, HoldStatus

    row = Hold.objects.filter(status=HoldStatus.OPEN).aggregate(
        count=Count("pk"), held=Sum(F("amount") - F("captured")), oldest=Min("created_at")
    )
    return row["count"], row["held"] or 0, row["oldest"]


# --- GET /metrics ---------------------------------------------------------------------------------


class _Scrape:
    """What one scrape exports: the counted metrics and the database state."""

    def __init__(self, *sources):
        self.sources = sources

    def collect(self):
        for source in self.sources:
            yield from source.collect()


def _counted():
    directory = settings.METRICS_MULTIPROC_DIR
    if directory:  # every process's files, this one's included
        return MultiProcessCollector(None, path=str(directory))
    return REGISTRY


_FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def _from_this_machine(request) -> bool:
    """A direct connection from loopback, not one relayed by a proxy on this machine."""
    relayed = list(_FORWARDING_HEADERS)
    if settings.CLIENT_IP_HEADER:
        relayed.append("HTTP_" + settings.CLIENT_IP_HEADER.upper().replace("-", "_"))
    if any(request.META.get(name) for name in relayed):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _refused(request) -> HttpResponse | None:
    """401 without the bearer token when METRICS_TOKEN is set; without one, only this
    machine may scrape (others get the 404 of a page that does not exist)."""
    from core.errors import json_error

    token = settings.METRICS_TOKEN
    if not token:
        if not _from_this_machine(request):
            raise Http404
        return None
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return None
    response = json_error(request, 401, "A valid metrics token is required", "UNAUTHORIZED")
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@require_safe
def metrics_view(request):
    """GET /metrics: the Prometheus text format; a 404 while METRICS_ENABLED is off."""
    if not settings.METRICS_ENABLED:
        raise Http404
    refused = _refused(request)
    if refused is not None:
        return refused
    body = generate_latest(_Scrape(_counted(), DatabaseState()))
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
