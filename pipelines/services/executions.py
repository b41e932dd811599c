"""Running a template: price it (pipelines.services.pricing), hold the whole price once, and
run its steps one by one as ordinary studio jobs.

Each step is a Generation with no hold of its own. When it finishes (studio.signals
.job_finished, inside the transaction that finishes it) the execution charges the step's part
of its one hold and creates the next step's job, enqueued after commit; a failed or cancelled
step releases what is left. Every move is a conditional update, so a redelivered message, a
worker SIGKILLed mid-step or a cancel racing a completion changes nothing twice.
"""

import contextlib
import hashlib
import json
import logging

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.exceptions import Conflict, DomainError, IdempotencyConflict, NotFound
from organizations.workspace import Workspace, rows_of, workspace_of
from pipelines import spec
from pipelines.events import execution_published
from pipelines.models import (
    EXECUTION_ACTIVE,
    Execution,
    ExecutionStatus,
    ExecutionStep,
    StepStatus,
    Template,
    new_id,
)
from pipelines.selectors import execution_get_for_user
from pipelines.services.pricing import execution_plan, pipeline_of
from pipelines.services.pricing import template_cost as template_cost  # still imported here
from pipelines.services.templates import template_visible
from studio.apis.job_types import JOB_TYPES
from studio.models import ACTIVE, Asset, Generation, Project, Status, Style
from studio.services.generations import enqueue, generation_cancel, generation_prepare
from tokens.exceptions import HoldNotOpen
from tokens.models import Hold, HoldStatus
from tokens.services import hold_capture_part, hold_release

logger = logging.getLogger(__name__)


class ExecutionNotActive(Conflict):
    code = "EXECUTION_NOT_ACTIVE"
    message = "Only a queued or running execution can be cancelled"


class ExecutionNotRetryable(Conflict):
    code = "EXECUTION_IN_PROGRESS"
    message = "Only a failed or cancelled execution can be retried"


# --- Starting ----------------------------------------------------------------------------


def _request_hash(template_id: str, body: dict) -> str:
    canonical = json.dumps({"template": template_id, **body}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def execution_create(
    *,
    user,
    template_id: str,
    inputs,
    pipeline_id: str | None = None,
    project_id: str | None = None,
    idempotency_key: str = "",
    workspace: Workspace | None = None,
) -> tuple[Execution, bool]:
    """Start a run: ONE hold for the whole price (or INSUFFICIENT_CREDITS, nothing started),
    the execution and its steps, and the first step's job, enqueued after commit. `workspace`
    (default: the user's own) is where it runs and is paid for, and where the project is; the
    template is any one the user can see (public, theirs or their organizations')."""
    workspace = workspace or Workspace(user)
    body = {"inputs": inputs, "pipeline": pipeline_id, "project": project_id}
    if workspace.slug:  # only then: the keys of personal runs keep the hashes they had
        body["organization"] = workspace.slug
    request_hash = _request_hash(template_id, body)
    if idempotency_key:
        existing = Execution.objects.filter(user=user, idempotency_key=idempotency_key).first()
        if existing:
            return _replay(existing, request_hash), False
    template = template_visible(user=user, template_id=template_id)
    pipeline = pipeline_of(template, pipeline_id)
    plan = execution_plan(template=template, pipeline=pipeline, inputs=inputs, partial=False)
    project = None
    if project_id:
        # One of the run's workspace's: its results are filed there.
        project = Project.objects.filter(workspace.rows(), pk=project_id).first()
        if project is None:
            raise NotFound("Project not found", project=project_id[:64])
    from pipelines.services.templates import template_document

    execution = Execution(
        id=new_id("exe"),
        user=user,
        organization=workspace.organization,
        template=template,
        pipeline=pipeline,
        template_version=template.version,
        snapshot=template_document(template, pipeline),
        inputs=plan.inputs,
        project=project,
        cost=plan.total,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    steps = [
        ExecutionStep(
            execution=execution,
            position=position,
            operation=planned.operation,
            name=planned.name,
            params=planned.params,
            cost=planned.cost,
        )
        for position, planned in enumerate(plan.steps)
    ]
    # The first job is checked (its image is yours, an upscale is not too large) before any
    # credit moves; the later ones when their turn comes.
    first = _job_for(execution, steps[0], outputs={})
    try:
        with transaction.atomic():
            execution.hold = workspace.hold(
                amount=plan.total,
                idempotency_key=f"execution:{execution.id}",
                operation="template_execution",
                memo=f"Template {template.name[:80]} ({len(steps)} steps)",
                subject=execution,
                ttl=_hold_ttl(len(steps)),
            )
            execution.save(force_insert=True)
            first.save(force_insert=True)
            steps[0].status, steps[0].generation = StepStatus.QUEUED, first
            ExecutionStep.objects.bulk_create(steps)
            Template.objects.filter(pk=template.pk).update(runs=F("runs") + 1)
            transaction.on_commit(lambda: enqueue(first))
            execution_published(execution)
    except IntegrityError:
        existing = Execution.objects.filter(user=user, idempotency_key=idempotency_key).first()
        if not idempotency_key or existing is None:
            raise
        return _replay(existing, request_hash), False
    return execution, True


def _hold_ttl(steps: int):
    from django.conf import settings

    return settings.HOLD_TTL * max(1, steps)


def _replay(existing: Execution, request_hash: str) -> Execution:
    if existing.request_hash != request_hash:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request",
            execution=existing.id,
        )
    return existing


def _job_for(execution: Execution, step: ExecutionStep, outputs: dict[int, str]) -> Generation:
    """The studio job that runs `step`, its references filled in (not saved)."""
    job = JOB_TYPES[step.operation]
    where = f"steps.{step.position + 1}"
    params = spec.params_resolve(step.params, execution.inputs, outputs)
    job_spec = spec.job_spec(job, params, where)
    if execution.project_id:
        job_spec["project"] = execution.project_id
    try:
        generation = generation_prepare(
            user=execution.user,
            kind=job.kind,
            spec=job_spec,
            within=rows_of(user=execution.user, organization_id=execution.organization_id),
        )
    except DomainError as exc:
        exc.details = {**exc.details, "step": step.position + 1}
        raise
    if generation.cost != step.cost:  # the catalog changed since the run was priced
        raise DomainError(
            f"Step {step.position + 1} now costs {generation.cost}, not {step.cost}",
            step=step.position + 1,
        )
    # In the run's workspace: the organization's gallery shows it, its managers may cancel it.
    generation.organization_id = execution.organization_id
    return generation


# --- Following the steps (the receiver of studio.signals.job_finished) --------------------


def on_job_finished(sender, generation: Generation, assets=(), **kwargs) -> None:
    if generation.hold_id is not None:
        return  # an ordinary job, paid by its own hold
    # The execution's steps, with the execution, its user and its hold, in one query: the
    # step's completion and the next step's start are in the worker's critical path.
    steps = list(
        ExecutionStep.objects.filter(execution__steps__generation_id=generation.pk)
        .select_related("execution__user", "execution__hold")
        .order_by("position")
    )
    step = next((s for s in steps if s.generation_id == generation.pk), None)
    if step is None:
        return
    execution = step.execution
    if generation.status == Status.COMPLETED:
        _step_completed(execution, steps, step, generation, assets)
    elif generation.status == Status.FAILED:
        _stop(execution, step, StepStatus.FAILED, ExecutionStatus.FAILED, generation.error)
    else:
        reason = generation.error or "Cancelled"
        _stop(execution, step, StepStatus.CANCELLED, ExecutionStatus.CANCELLED, reason)
    execution_published(execution)


def _output_of(generation: Generation, assets) -> str:
    if generation.operation == "style_creation":
        style = Style.objects.filter(generation=generation).first()
        return style.pk if style else ""
    key = generation.outputs[0]["key"] if generation.outputs else ""
    asset = next((a for a in assets if a.key == key), None) if assets else None
    if asset is None:
        asset = Asset.objects.filter(generation=generation, key=key).first()
    return asset.pk if asset else generation.pk


def _step_completed(execution: Execution, steps, step, generation: Generation, assets) -> None:
    now = timezone.now()
    charged = 0
    try:
        hold_capture_part(
            hold=execution.hold,
            amount=step.cost,
            key=f"step-{step.position + 1}:{generation.pk}",
            memo=f"Step {step.position + 1}: {step.operation}",
        )
        charged = step.cost
    except HoldNotOpen:
        # The execution was cancelled while this step finished (its credits were already
        # given back: the result is the user's without charge), or its hold expired.
        logger.info("execution %s: step %s finished after its hold closed", execution.pk, step.pk)
    output = _output_of(generation, assets)
    ExecutionStep.objects.filter(pk=step.pk, generation=generation).update(
        status=StepStatus.COMPLETED, output=output, charged=charged, finished_at=now
    )
    later = [s for s in steps if s.position > step.position]
    if (
        not charged
        and later
        and Execution.objects.filter(pk=execution.pk, status__in=EXECUTION_ACTIVE).exists()
    ):  # nothing left to pay the next steps with: stop here
        _stop(
            execution,
            later[0],
            StepStatus.FAILED,
            ExecutionStatus.FAILED,
            "The credit hold expired before the run finished; retry to go on",
        )
        return
    if not later:
        if Execution.objects.filter(pk=execution.pk, status__in=EXECUTION_ACTIVE).update(
            status=ExecutionStatus.COMPLETED, finished_at=now, error=""
        ):
            _release_rest(execution, "Execution completed")
        return
    following = later[0]
    outputs = {s.position + 1: s.output for s in steps if s.status == StepStatus.COMPLETED}
    outputs[step.position + 1] = output
    try:
        job = _job_for(execution, following, outputs)
    except DomainError as exc:  # e.g. the result is too large for the next operation
        _stop(
            execution,
            following,
            StepStatus.FAILED,
            ExecutionStatus.FAILED,
            f"Step {following.position + 1} could not start: {exc.message}",
        )
        return
    except spec.DocumentInvalid as exc:
        _stop(
            execution,
            following,
            StepStatus.FAILED,
            ExecutionStatus.FAILED,
            f"Step {following.position + 1} could not start: {_first(exc.errors)}",
        )
        return
    advanced = Execution.objects.filter(pk=execution.pk, status__in=EXECUTION_ACTIVE).update(
        status=ExecutionStatus.RUNNING, current_step=following.position
    )
    if not advanced:
        return  # cancelled meanwhile: nothing more starts
    job.save(force_insert=True)
    ExecutionStep.objects.filter(pk=following.pk).update(
        status=StepStatus.QUEUED, generation=job, error="", output="", charged=0
    )
    transaction.on_commit(lambda: enqueue(job))


def _first(errors: dict) -> str:
    for where, messages in errors.items():
        return f"{where}: {messages[0]}"
    return "invalid"


def _stop(execution, step, step_status: str, status: str, error: str) -> None:
    """The step ends badly: the execution stops there, later steps are skipped and what is
    left of the hold goes back."""
    now = timezone.now()
    # The hold's row first, as a completing step takes it: the two never wait on each other.
    Hold.objects.select_for_update().filter(pk=execution.hold_id).first()
    ExecutionStep.objects.filter(pk=step.pk).update(
        status=step_status, error=error[:2000], finished_at=now
    )
    ExecutionStep.objects.filter(
        execution=execution, position__gt=step.position, status=StepStatus.PENDING
    ).update(status=StepStatus.SKIPPED)
    Execution.objects.filter(pk=execution.pk, status__in=EXECUTION_ACTIVE).update(
        status=status, error=error[:2000], finished_at=now, current_step=step.position
    )
    _release_rest(execution, error[:500] or status)


def _release_rest(execution: Execution, reason: str) -> None:
    hold = Hold.objects.get(pk=execution.hold_id)
    if hold.status == HoldStatus.OPEN:
        with contextlib.suppress(HoldNotOpen):  # released by a concurrent stop
            hold_release(hold=hold, reason=reason)


# --- Cancel and retry --------------------------------------------------------------------


def execution_cancel(*, user, execution_id: str, actor=None, maker: bool = False) -> Execution:
    """Stop the run: the running step's job is cancelled like any job; what is left of the
    hold goes back. `actor`: who did it when it was not the owner (support). `maker`: as
    execution_get_for_user."""
    execution = execution_get_for_user(
        user=user, execution_id=execution_id, change=True, maker=maker
    )
    if execution.status not in EXECUTION_ACTIVE:
        raise ExecutionNotActive(
            f"Execution is {execution.status}; only queued or running ones can be cancelled",
            status=execution.status,
        )
    # The running job first (its row, then the execution's, the order a completing job takes
    # them in): its cancel reaches on_job_finished, which stops the execution.
    for generation_id in ExecutionStep.objects.filter(
        execution=execution, generation__status__in=ACTIVE
    ).values_list("generation_id", flat=True):
        with contextlib.suppress(DomainError):  # finished meanwhile; the next may be queued
            generation_cancel(user=user, generation_id=generation_id, actor=actor, maker=maker)
    with transaction.atomic():
        Hold.objects.select_for_update().filter(pk=execution.hold_id).first()
        current = (
            ExecutionStep.objects.filter(execution=execution)
            .exclude(status__in=[StepStatus.COMPLETED, StepStatus.SKIPPED])
            .order_by("position")
            .first()
        )
        if Execution.objects.filter(pk=execution.pk, status__in=EXECUTION_ACTIVE).exists():
            if current is not None:
                _stop(
                    execution,
                    current,
                    StepStatus.CANCELLED,
                    ExecutionStatus.CANCELLED,
                    "Cancelled by user",
                )
            execution_published(execution)
    for generation_id in ExecutionStep.objects.filter(
        execution=execution, generation__status__in=ACTIVE
    ).values_list("generation_id", flat=True):  # a step started while we cancelled
        with contextlib.suppress(DomainError):
            generation_cancel(user=user, generation_id=generation_id, actor=actor, maker=maker)
    execution.refresh_from_db()
    return execution


def retry_cost(steps) -> int:
    """What a retry holds: the price of every step not completed yet."""
    return sum(step.cost for step in steps if step.status != StepStatus.COMPLETED)


def execution_retry(*, user, execution_id: str) -> Execution:
    """Resume a failed or cancelled run at its first unfinished step, reusing what the steps
    before it made, with a new hold for the cost of the rest only, in the run's workspace (a
    member who has left the organization gets 404)."""
    execution = execution_get_for_user(user=user, execution_id=execution_id, change=True)
    if execution.status not in (ExecutionStatus.FAILED, ExecutionStatus.CANCELLED):
        raise ExecutionNotRetryable(
            f"Execution is {execution.status}; only failed or cancelled ones can be retried",
            status=execution.status,
        )
    steps = list(execution.steps.all())
    done = {s.position + 1: s.output for s in steps if s.status == StepStatus.COMPLETED}
    rest = [s for s in steps if s.status != StepStatus.COMPLETED]
    if not rest:
        raise ExecutionNotRetryable("Every step already completed", status=execution.status)
    first = rest[0]
    job = _job_for(execution, first, done)
    workspace = workspace_of(user=user, row=execution)
    attempt = execution.attempt + 1
    with transaction.atomic():
        if not Execution.objects.filter(
            pk=execution.pk,
            status__in=[ExecutionStatus.FAILED, ExecutionStatus.CANCELLED],
            attempt=execution.attempt,
        ).update(
            status=ExecutionStatus.RUNNING if done else ExecutionStatus.QUEUED,
            attempt=attempt,
            error="",
            finished_at=None,
            current_step=first.position,
        ):
            raise ExecutionNotRetryable("The execution changed meanwhile; look again")
        hold = workspace.hold(
            amount=retry_cost(steps),
            idempotency_key=f"execution:{execution.pk}:attempt-{attempt}",
            operation="template_execution",
            memo=f"Retry from step {first.position + 1}",
            subject=execution,
            ttl=_hold_ttl(len(rest)),
        )
        Execution.objects.filter(pk=execution.pk).update(hold=hold)
        job.save(force_insert=True)
        ExecutionStep.objects.filter(pk__in=[s.pk for s in rest]).update(
            status=StepStatus.PENDING, error="", output="", charged=0, finished_at=None
        )
        for step in rest:
            if step.generation_id:  # its failed or cancelled job stays in the run's log
                step.earlier_jobs = [*step.earlier_jobs, step.generation_id]
                step.generation = None
                step.save(update_fields=["earlier_jobs", "generation"])
        ExecutionStep.objects.filter(pk=first.pk).update(status=StepStatus.QUEUED, generation=job)
        transaction.on_commit(lambda: enqueue(job))
        execution.refresh_from_db()
        execution_published(execution)
    return execution
