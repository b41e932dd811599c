"""What support staff can do to a customer's account and work, each through the service the
API uses, with a reason, and recorded (SupportAction) in the same transaction as the change.

Nothing here writes a balance or a status itself: refunds go through tokens.services, cancels
and retries through the studio's and the pipelines' services, plan changes through the
subscription. The admin (support.admin and the per-app admins) only collects the reason and
calls these.
"""

from django.db import transaction
from django.db.models import Model

from accounts.models import Plan, Subscription, User
from core.exceptions import Conflict, DomainError
from pipelines.models import Execution, ExecutionStatus, Template, Visibility
from pipelines.selectors import execution_holds
from studio.models import Generation, Status, WebhookDelivery
from support.models import Action, SupportAction
from tokens.models import Hold, HoldStatus

# The permission behind every support action; the "Support" group has it (migration 0002).
PERMISSION = "support.act"


class ReasonRequired(DomainError):
    message = "Give a reason: the customer and the books will see it"


class NotRefundable(Conflict):
    code = "NOT_REFUNDABLE"
    message = "This job cannot be refunded"


class AlreadyDone(Conflict):
    code = "CONFLICT"
    message = "This was already done"


def can_act(user) -> bool:
    return user.is_active and user.has_perm(PERMISSION)


def _label(obj: Model) -> str:
    return obj._meta.label_lower


def support_record(
    *, actor: User, action: str, target: Model, customer: User | None, reason: str = "", **details
) -> SupportAction:
    """One row of the staff record. Call inside the transaction of the change it records."""
    return SupportAction.objects.create(
        actor=actor,
        action=action,
        target_type=_label(target),
        target_id=str(target.pk),
        customer=customer,
        reason=reason,
        details=details,
    )


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired()
    return reason


# --- Refunds ---------------------------------------------------------------------------------


def _charged_holds(job: Generation | Execution) -> list[int]:
    """The holds that charged for `job`, by id: a generation's one, or every hold an execution
    had (each retry opens another for the steps left)."""
    if isinstance(job, Generation):
        if job.hold_id is None:
            raise NotRefundable(
                "This job is a step of a template execution; refund the execution", id=job.pk
            )
        done = job.status == Status.COMPLETED
        holds = [job.hold_id]
    else:
        done = job.status == ExecutionStatus.COMPLETED
        holds = list(execution_holds(job).values_list("pk", flat=True))
    if not done:
        raise NotRefundable(
            f"Only a completed job can be refunded (this one is {job.status}); a failed or "
            "cancelled one was never charged",
            status=job.status,
        )
    return holds


def _shares(holds: list[Hold], amount: int | None) -> list[tuple[Hold, int]]:
    """What to give back on each hold: all each charged, or `amount` taken from the latest
    hold back (the retry that finished the run first)."""
    if amount is None:
        return [(hold, hold.captured) for hold in holds]
    shares = []
    for hold in reversed(holds):
        share = min(amount, hold.captured)
        if share:
            shares.append((hold, share))
        amount -= share
    return shares


def job_refund(
    *, actor: User, job: Generation | Execution, reason: str, amount: int | None = None
) -> int:
    """Give back what a completed generation or execution charged, all of it (amount=None) or
    part. Once per job: a second refund is refused, and never more than was charged (over all
    of an execution's holds, when a retry finished it). Returns the credits refunded."""
    from tokens.services import hold_refund

    reason = _reason(reason)
    ids = _charged_holds(job)
    with transaction.atomic():
        # The holds' rows, locked in id order: two staff refunding the same job at once take
        # turns, and the second sees the first's refund.
        holds = [
            hold
            for hold in Hold.objects.select_for_update().filter(pk__in=ids).order_by("pk")
            if hold.status == HoldStatus.CAPTURED and hold.captured
        ]
        charged = sum(hold.captured for hold in holds)
        if not charged:
            raise NotRefundable("Nothing was charged for this job", captured=0)
        refunded = sum(hold.refunded for hold in holds)
        if refunded:
            raise AlreadyDone("This job was already refunded", refunded=refunded, id=str(job.pk))
        if amount is not None and not 0 < amount <= charged:
            raise NotRefundable(
                f"A refund is between 1 and the {charged} credits charged",
                charged=charged,
                amount=amount,
            )
        entries = [
            hold_refund(
                hold=hold,
                amount=share,
                memo=f"Refund: {reason}",
                idempotency_key=f"support:{hold.pk}",
                actor=actor,
            )
            for hold, share in _shares(holds, amount)
        ]
        credits = sum(entry.amount for entry in entries)
        support_record(
            actor=actor,
            action=Action.REFUND,
            target=job,
            customer=job.user,
            reason=reason,
            credits=credits,
            charged=charged,
            ledger_entries=[entry.pk for entry in entries],
        )
    return credits


# --- Jobs: cancel and retry ------------------------------------------------------------------


def job_cancel(*, actor: User, job: Generation | Execution, reason: str) -> None:
    """Cancel a queued or running job for its owner; what it held goes back."""
    from pipelines.services.executions import execution_cancel
    from studio.services.generations import generation_cancel

    reason = _reason(reason)
    if isinstance(job, Generation):
        generation_cancel(user=job.user, generation_id=job.pk, actor=actor, maker=True)
    else:
        execution_cancel(user=job.user, execution_id=job.pk, actor=actor, maker=True)
    support_record(actor=actor, action=Action.CANCEL, target=job, customer=job.user, reason=reason)


def job_retry(*, actor: User, job: Generation | Execution, reason: str) -> Model:
    """Run a failed or cancelled job again for its owner, held and charged like theirs.
    Returns the new generation, or the resumed execution."""
    from pipelines.services.executions import execution_retry
    from studio.services.generations import generation_retry

    reason = _reason(reason)
    if isinstance(job, Generation):
        again = generation_retry(user=job.user, generation_id=job.pk)
    else:
        again = execution_retry(user=job.user, execution_id=job.pk)
    support_record(
        actor=actor,
        action=Action.RETRY,
        target=job,
        customer=job.user,
        reason=reason,
        new=str(again.pk),
    )
    return again


# --- Accounts --------------------------------------------------------------------------------


def user_suspend(*, actor: User, user: User, reason: str) -> int:
    """Lock the account: no login, refresh tokens revoked, signed out of every browser,
    queued and running jobs cancelled and refunded. Returns how many jobs were cancelled."""
    from accounts.services import sessions_end, tokens_revoke_all
    from accounts.services_delete import user_jobs_cancel

    reason = _reason(reason)
    if user == actor:
        raise Conflict("You cannot suspend yourself")
    if not User.objects.filter(pk=user.pk, is_active=True).update(is_active=False):
        raise AlreadyDone("This account is already suspended")
    user.is_active = False
    tokens_revoke_all(user=user)
    sessions_end(user=user)
    cancelled = sum(user_jobs_cancel(user=user, actor=actor).values())
    support_record(
        actor=actor,
        action=Action.SUSPEND,
        target=user,
        customer=user,
        reason=reason,
        jobs_cancelled=cancelled,
    )
    return cancelled


def user_reactivate(*, actor: User, user: User, reason: str) -> None:
    reason = _reason(reason)
    if not User.objects.filter(pk=user.pk, is_active=False).update(is_active=True):
        raise AlreadyDone("This account is active")
    user.is_active = True
    support_record(actor=actor, action=Action.REACTIVATE, target=user, customer=user, reason=reason)


def plan_change(*, actor: User, user: User, plan: Plan, reason: str, at_renewal: bool) -> None:
    """Move the user to `plan`: now (the new plan's limits apply at once; this period's
    credits stay, the next allocation is the new plan's), or at their next renewal."""
    from accounts.services import subscription_change

    reason = _reason(reason)
    with transaction.atomic():
        before = Subscription.objects.select_related("plan").get(user=user).plan
        subscription_change(user=user, plan=plan, at_renewal=at_renewal)
        support_record(
            actor=actor,
            action=Action.CHANGE_PLAN,
            target=user,
            customer=user,
            reason=reason,
            before=before.code,
            after=plan.code,
            when="renewal" if at_renewal else "now",
        )


# --- Webhooks and templates ------------------------------------------------------------------


def webhook_redeliver(*, actor: User, delivery: WebhookDelivery, reason: str) -> WebhookDelivery:
    """A new delivery of the same event to the same endpoint, signed the same way."""
    from studio.services.webhooks import delivery_redeliver

    reason = _reason(reason)
    owner = delivery.webhook.user
    with transaction.atomic():
        again = delivery_redeliver(
            user=owner, webhook_id=delivery.webhook_id, delivery_id=delivery.pk
        )
        support_record(
            actor=actor,
            action=Action.REDELIVER,
            target=delivery,
            customer=owner,
            reason=reason,
            new=again.pk,
        )
    return again


def template_feature(*, actor: User, template: Template, featured: bool, reason: str = "") -> None:
    """Show a public template first in the list, or stop doing so."""
    if featured and template.visibility != Visibility.PUBLIC:
        raise Conflict("Only a public template can be featured")
    with transaction.atomic():
        if not Template.objects.filter(pk=template.pk, featured=not featured).update(
            featured=featured
        ):
            raise AlreadyDone("The template is already " + ("featured" if featured else "not"))
        support_record(
            actor=actor,
            action=Action.FEATURE if featured else Action.UNFEATURE,
            target=template,
            customer=template.owner,
            reason=reason,
        )
    template.featured = featured


def template_unpublish(*, actor: User, template: Template, reason: str) -> None:
    """Make a public template private, with the reason its owner sees on it."""
    reason = _reason(reason)
    with transaction.atomic():
        if not Template.objects.filter(pk=template.pk, visibility=Visibility.PUBLIC).update(
            visibility=Visibility.PRIVATE, featured=False, unpublished_reason=reason[:500]
        ):
            raise AlreadyDone("The template is not public")
        support_record(
            actor=actor,
            action=Action.UNPUBLISH,
            target=template,
            customer=template.owner,
            reason=reason,
        )
    template.visibility = Visibility.PRIVATE
