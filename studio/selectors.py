"""Reads for the studio."""

from django.db.models import OuterRef, QuerySet, Subquery

from core.exceptions import NotFound
from studio.models import Generation, Style, Webhook, WebhookAttempt

RECENT_DELIVERIES = 10


def generation_count(*, user) -> int:
    """How many generations the user has (any status)."""
    return Generation.objects.filter(user=user).count()


def generation_list(*, user, kind: str | None = None, status: str | None = None) -> QuerySet:
    """The user's generations, newest first, optionally of one type and status."""
    generations = Generation.objects.filter(user=user)
    if kind:
        generations = generations.filter(kind=kind)
    if status:
        generations = generations.filter(status=status)
    return generations.order_by("-created_at", "-id")


def webhook_list(*, user) -> QuerySet[Webhook]:
    return Webhook.objects.filter(user=user).order_by("-created_at", "-pk")


def webhook_get(*, user, webhook_id: str) -> Webhook:
    """The user's webhook, or NotFound (also for another user's id: no existence leak)."""
    webhook = Webhook.objects.filter(pk=webhook_id, user=user).first()
    if webhook is None:
        raise NotFound("Webhook not found")
    return webhook


def delivery_list_recent(*, webhook: Webhook, limit: int = RECENT_DELIVERIES) -> list:
    """The newest deliveries, each with `last_status_code` and `last_error` of its last try."""
    last = WebhookAttempt.objects.filter(delivery=OuterRef("pk")).order_by("-id")
    return list(
        webhook.deliveries.annotate(
            last_status_code=Subquery(last.values("status_code")[:1]),
            last_error=Subquery(last.values("error")[:1]),
        ).order_by("-created_at", "-pk")[:limit]
    )


def style_list(*, user) -> QuerySet[Style]:
    return Style.objects.filter(user=user).prefetch_related("references").order_by("-created_at")
