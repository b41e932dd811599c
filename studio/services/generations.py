"""The generation lifecycle (DESIGN.md): queued -> generating -> completed | failed | cancelled.

Submission creates the row and its credit hold in one transaction and enqueues the job after
commit. A worker claims the row with a conditional update that also takes a lease, runs the
provider chain and writes the files outside any transaction, then completes the row and
captures the hold in one transaction. Failure and cancel release the hold. Each step is a
conditional update on the row, so a redelivered message or a late worker changes nothing.
"""

import contextlib
import hashlib
import json
import logging
import os
import random
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from core import metrics
from core.exceptions import Conflict, Forbidden, IdempotencyConflict, NotFound
from organizations.workspace import Workspace, may_change, visible_to, workspace_of
from studio import storage
from studio.events import job_published
from studio.models import (
    ACTIVE,
    Asset,
    Generation,
    Kind,
    LogEvent,
    Project,
    Status,
    Style,
    new_generation_id,
)
from studio.options import IMAGE_SIZES, VIDEO_MODELS
from studio.prompts import enhance_prompt
from studio.services.joblog import claimed_line, job_log, job_log_write
from studio.signals import job_finished
from tokens import catalog
from tokens.exceptions import InsufficientTokens
from tokens.models import Hold
from tokens.services import hold_release

logger = logging.getLogger(__name__)

SEED_MAX = 2**32 - 1


class GenerationNotActive(Conflict):
    code = "GENERATION_NOT_ACTIVE"
    message = "Only a queued or running generation can be cancelled"


class GenerationNotRetryable(Conflict):
    code = "GENERATION_IN_PROGRESS"
    message = "Only a failed or cancelled generation can be retried"


class JobBusy(Exception):
    """Another live worker holds the job's lease; the message is retried later."""


# --- Submission ---------------------------------------------------------------------------


def _request_hash(kind: str, spec: dict) -> str:
    canonical = json.dumps({"kind": kind, **spec}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def generation_cost(kind: str, spec: dict) -> int:
    if kind == Kind.OPERATION:
        return catalog.cost_of(spec["operation"])
    if kind == Kind.IMAGE and spec.get("operation"):  # generate, then vectorize: one price
        return catalog.cost_of(spec["operation"], quantity=spec.get("num_images", 1))
    if kind == Kind.IMAGE:
        return catalog.cost_of(catalog.IMAGE_GENERATION, spec["model"], spec.get("num_images", 1))
    return catalog.cost_of(catalog.VIDEO_GENERATION, spec["model"])


@dataclass
class _Refs:
    """The objects a request names by id, resolved for its user (someone else's is a 404)."""

    project: Project | None = None
    style: Style | None = None
    source: Asset | None = None
    references: list[Asset] | None = None


def _resolve(within: Q, kind: str, spec: dict) -> _Refs:
    from studio.services.assets import asset_for_source

    refs = _Refs()
    if spec.get("project"):
        refs.project = Project.objects.filter(within, pk=spec["project"]).first()
        if refs.project is None:
            raise NotFound("Project not found", project=spec["project"])
    if spec.get("style_id"):
        refs.style = Style.objects.filter(within, pk=spec["style_id"]).first()
        if refs.style is None:
            raise NotFound("Style not found", style_id=spec["style_id"])
    if spec.get("source"):
        refs.source = asset_for_source(within=within, source_id=spec["source"])
    if spec.get("references"):
        refs.references = [
            asset_for_source(within=within, source_id=source) for source in spec["references"]
        ]
    if kind == Kind.OPERATION:
        from studio.services.operations import operation_check

        operation_check(spec, refs.source)
    return refs


def generation_prepare(
    *,
    user,
    kind: str,
    spec: dict,
    idempotency_key: str = "",
    retry_of: Generation | None = None,
    within: Q | None = None,
) -> Generation:
    """An unsaved job for `spec` (the validated request): the ids it names resolved among
    `within`, the rows of its workspace (default: the user's own; anything else is a 404), its
    price from the catalog, the seed drawn when none was given."""
    spec = dict(spec)
    if spec.get("seed") is None:
        spec["seed"] = random.SystemRandom().randint(0, SEED_MAX)  # always recorded
    refs = _resolve(within if within is not None else Workspace(user).rows(), kind, spec)
    prompt = spec.get("prompt", "")
    enhanced = (
        enhance_prompt(prompt, spec.get("category", ""), spec.get("style", "")) if prompt else ""
    )
    if refs.style is not None:
        # A saved style: its palette drives the local renderer, its words the remote models.
        spec["palette"] = refs.style.palette
        enhanced = f"{enhanced}, {refs.style.prompt_suffix}" if enhanced else ""
    return Generation(
        id=new_generation_id(kind),
        user=user,
        kind=kind,
        prompt=prompt,
        enhanced_prompt=enhanced,
        negative_prompt=spec.get("negative_prompt", ""),
        model=spec.get("model", ""),
        category=spec.get("category", ""),
        style=spec.get("style", ""),
        seed=spec["seed"],
        params=spec,
        operation=spec.get("operation", ""),
        source_asset=refs.source,
        style_ref=refs.style,
        project=refs.project,
        cost=generation_cost(kind, spec),
        idempotency_key=idempotency_key,
        retry_of=retry_of,
        enqueued_at=timezone.now(),
    )


def generation_create(
    *,
    user,
    kind: str,
    spec: dict,
    idempotency_key: str = "",
    retry_of: Generation | None = None,
    workspace: Workspace | None = None,
) -> tuple[Generation, bool]:
    """Accept a job: the row and its credit hold, atomically; the worker is told after commit.
    `workspace` (default: the user's own) is where it is made and paid for.

    `spec` is the validated request. Returns (generation, created): a repeat of an
    Idempotency-Key with the same body returns the original and charges nothing; the same
    key with another body raises IdempotencyConflict.
    """
    # The hash covers what the client sent, not the seed we drew for it.
    request_hash = _request_hash(kind, {k: v for k, v in spec.items() if k != "seed"})
    if idempotency_key:
        existing = Generation.objects.filter(user=user, idempotency_key=idempotency_key).first()
        if existing:
            return _replay(existing, request_hash), False
    workspace = workspace or Workspace(user)
    generation = generation_prepare(
        user=user,
        kind=kind,
        spec=spec,
        idempotency_key=idempotency_key,
        retry_of=retry_of,
        within=workspace.rows(),
    )
    generation.request_hash = request_hash
    generation.organization = workspace.organization
    try:
        with transaction.atomic():
            # The hold first: its id goes into the generation's row, so the row is written
            # once. (Its ledger entry names the generation by the id it is about to have.)
            generation.hold = workspace.hold(
                amount=generation.cost,
                idempotency_key=f"generation:{generation.id}",
                operation=generation.operation or f"{kind}_generation:{generation.model}",
                subject=generation,
            )
            generation.save(force_insert=True)
            transaction.on_commit(lambda: enqueue(generation))
    except InsufficientTokens as exc:
        exc.details["model" if not generation.operation else "operation"] = (
            generation.model or generation.operation
        )
        raise
    except IntegrityError:
        # The same Idempotency-Key raced in from a second request; its row won.
        existing = Generation.objects.filter(user=user, idempotency_key=idempotency_key).first()
        if not idempotency_key or existing is None:
            raise
        return _replay(existing, request_hash), False
    return generation, True


def _replay(existing: Generation, request_hash: str) -> Generation:
    if existing.request_hash != request_hash:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request",
            generation=existing.id,
        )
    return existing


def enqueue(generation: Generation) -> None:
    from studio.tasks import generate_image, generate_video

    # Operations are short image work: they share the images queue.
    actor = generate_video if generation.kind == Kind.VIDEO else generate_image
    actor.send(generation.id)


# --- Execution (the worker) ------------------------------------------------------------------


def _worker_token() -> str:
    host = socket.gethostname()[:30]
    return f"{host}:{os.getpid()}:{threading.get_ident() % 10**6}:{uuid.uuid4().hex[:8]}"


def generation_claim(*, generation_id: str, worker: str) -> Generation | None:
    """Take the job if it is queued, or running under an expired lease (its worker died).

    Returns the claimed row, or None when there is nothing to do. Raises JobBusy when a live
    worker holds it (a duplicate message: retry later, it will have finished by then).
    """
    now = timezone.now()
    lease = now + timedelta(seconds=settings.GENERATION_LEASE)
    if connection.vendor == "postgresql":
        claimed = _claim_returning(generation_id, worker, now, lease)
        if claimed is not None:
            return _claimed(claimed, worker)
    else:
        claimable = Q(status=Status.QUEUED) | Q(status=Status.GENERATING, lease_until__lt=now)
        updated = (
            Generation.objects.filter(claimable, pk=generation_id)
            .filter(attempts__lt=settings.GENERATION_MAX_ATTEMPTS)
            .update(
                status=Status.GENERATING,
                worker=worker,
                lease_until=lease,
                attempts=F("attempts") + 1,
                progress=0,
                started_at=now,
            )
        )
        if updated:
            claimed = Generation.objects.select_related("hold").get(pk=generation_id)
            return _claimed(claimed, worker)
    current = Generation.objects.filter(pk=generation_id).select_related("hold").first()
    if current is None or current.status not in ACTIVE:
        return None  # deleted, finished, or cancelled: a late or duplicate message
    if current.status == Status.GENERATING and current.lease_until and current.lease_until >= now:
        raise JobBusy(generation_id)
    # Claimable but out of attempts: each one was lost with its worker. Give up cleanly.
    generation_fail(
        generation=current,
        worker=None,
        error=f"Gave up after {current.attempts} attempts (workers stopped mid-job)",
    )
    return None


def _claimed(generation: Generation, worker: str) -> Generation:
    metrics.job_claimed(generation)
    job_published(generation)
    # At once, not with the run's other lines: a worker killed mid-job leaves who had it.
    job_log_write(generation.pk, [claimed_line(generation, worker)])
    return generation


_HOLD_FIELDS = [field.attname for field in Hold._meta.concrete_fields]
# The claim as one statement: the conditional update returns the row, joined with its hold.
_CLAIM_SQL = f"""
WITH g AS (
    UPDATE {Generation._meta.db_table}
    SET status = %(generating)s, worker = %(worker)s, lease_until = %(lease)s,
        attempts = attempts + 1, progress = 0, started_at = %(now)s
    WHERE id = %(id)s AND attempts < %(max_attempts)s
      AND (status = %(queued)s OR (status = %(generating)s AND lease_until < %(now)s))
    RETURNING *
)
SELECT g.*, {
    ", ".join(f'h."{Hold._meta.get_field(name).column}" AS "_hold_{name}"' for name in _HOLD_FIELDS)
}
FROM g LEFT JOIN {Hold._meta.db_table} h ON h.id = g.hold_id
"""


def _claim_returning(generation_id: str, worker: str, now, lease) -> Generation | None:
    """PostgreSQL: claim and load in one round trip instead of an update and a select."""
    params = {
        "id": generation_id,
        "worker": worker,
        "lease": lease,
        "now": now,
        "max_attempts": settings.GENERATION_MAX_ATTEMPTS,
        "queued": Status.QUEUED,
        "generating": Status.GENERATING,
    }
    rows = list(Generation.objects.raw(_CLAIM_SQL, params))
    if not rows:
        return None
    generation = rows[0]
    if generation.hold_id is not None:
        values = [getattr(generation, f"_hold_{name}") for name in _HOLD_FIELDS]
        generation.hold = Hold.from_db(generation._state.db, _HOLD_FIELDS, values)
    return generation


def generation_fail(
    *,
    generation: Generation,
    worker: str | None,
    error: str,
    code: str = "GENERATION_FAILED",
    attempts: list | None = None,
) -> bool:
    """Mark failed and release the credits, once. `worker` (when given) must still own it."""
    owned = Q(status__in=ACTIVE) if worker is None else Q(status=Status.GENERATING, worker=worker)
    fields = dict(
        status=Status.FAILED,
        error=error[:2000],
        error_code=code,
        finished_at=timezone.now(),
        lease_until=None,
    )
    if attempts is not None:
        fields["provider_attempts"] = attempts
    with transaction.atomic():
        if not Generation.objects.filter(owned, pk=generation.pk).update(**fields):
            return False
        if generation.hold_id:
            hold_release(hold=Hold.objects.get(pk=generation.hold_id), reason=error[:500])
        generation.refresh_from_db()
        job_finished.send(sender=Generation, generation=generation)
        metrics.job_finished(generation)
        _emit(generation, "generation.failed")
        job_published(generation)
    job_log(generation.pk, LogEvent.FAILED, f"Failed: {error}", code=code)
    return True


def generation_cancel(*, user, generation_id: str, actor=None, maker: bool = False) -> Generation:
    """Stop a queued or running job and give the credits back; the worker stops at its next
    progress checkpoint and throws its result away. `maker`: as generation_get_for_user."""
    generation = generation_get_for_user(
        user=user, generation_id=generation_id, change=True, maker=maker
    )
    with transaction.atomic():
        cancelled = Generation.objects.filter(pk=generation.pk, status__in=ACTIVE).update(
            status=Status.CANCELLED,
            finished_at=timezone.now(),
            lease_until=None,
            error="Cancelled by user",
            error_code="CANCELLED",
        )
        if not cancelled:
            generation.refresh_from_db()
            raise GenerationNotActive(
                f"Generation is {generation.status}; only queued or running ones can be cancelled",
                status=generation.status,
            )
        if generation.hold_id:
            hold_release(hold=Hold.objects.get(pk=generation.hold_id), reason="Cancelled by user")
        generation.refresh_from_db()
        job_finished.send(sender=Generation, generation=generation)
        metrics.job_finished(generation)
    job_published(generation)
    who = f"support ({actor.email})" if actor is not None and actor != user else "its owner"
    job_log(generation.pk, LogEvent.CANCELLED, f"Cancelled by {who}; the credits went back")
    return generation


def generation_retry(*, user, generation_id: str, idempotency_key: str = "") -> Generation:
    """A failed or cancelled job again, as a new generation with the same parameters."""
    original = generation_get_for_user(user=user, generation_id=generation_id)
    if original.hold_id is None:  # a step of a pipeline: paid for by its execution
        raise GenerationNotRetryable(
            "This job is a step of a template execution; retry the execution instead",
            status=original.status,
        )
    if original.status not in (Status.FAILED, Status.CANCELLED):
        raise GenerationNotRetryable(
            f"Generation is {original.status}; only failed or cancelled ones can be retried",
            status=original.status,
        )
    generation, _ = generation_create(
        user=user,
        kind=original.kind,
        spec=original.params,
        idempotency_key=idempotency_key,
        retry_of=original,
        workspace=workspace_of(user=user, row=original),
    )
    return generation


def generation_delete(*, user, generation_id: str) -> None:
    """Delete a generation and its files; a running one is cancelled (and refunded) first."""
    generation = generation_get_for_user(user=user, generation_id=generation_id, change=True)
    if generation.is_active:
        with contextlib.suppress(GenerationNotActive):  # it finished meanwhile
            generation_cancel(user=user, generation_id=generation_id)
    storage.delete_prefix(generation.storage_prefix)
    Generation.objects.filter(pk=generation.pk).delete()


def generation_star(*, user, generation_id: str, starred: bool) -> Generation:
    """Mark (or unmark) a generation as a favourite; nothing else about it changes."""
    generation = generation_get_for_user(user=user, generation_id=generation_id, change=True)
    Generation.objects.filter(pk=generation.pk).update(starred=starred)
    generation.starred = starred
    return generation


def generation_get_for_user(
    *, user, generation_id: str, change: bool = False, maker: bool = False
) -> Generation:
    """A generation the user can see (their own, or their organizations'); anyone else's is as
    absent as a missing one (404). `change`: they are about to change it, which in an
    organization is for whoever made it and the managers (403 for other members). `maker`:
    one `user` made, wherever (support and account deletion acting for its maker, who may
    have left its organization since)."""
    mine = Q(user=user) if maker else visible_to(user)
    generation = (
        Generation.objects.filter(mine, pk=generation_id)
        .select_related("hold", "organization")
        .first()
    )
    if generation is None:
        raise NotFound("Generation not found", id=generation_id[:64])
    if change and not maker and not may_change(user, generation):
        raise Forbidden("Only whoever made it and the organization's owners and admins can")
    return generation


def _emit(generation: Generation, event: str) -> None:
    from studio.presenters import webhook_data
    from studio.services.webhooks import webhooks_emit

    # By id: loading the user would cost a query on every completion.
    webhooks_emit(
        user=generation.user_id,
        organization_id=generation.organization_id,
        event=event,
        data=lambda: webhook_data(generation),
    )


def _spec_size(generation: Generation) -> tuple[int, int]:
    if generation.kind == Kind.IMAGE:
        return IMAGE_SIZES[generation.params.get("size", "1024x1024")]
    info = VIDEO_MODELS[generation.model]
    return info.width, info.height
