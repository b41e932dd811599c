"""Reads for the studio."""

from datetime import date, datetime, time, timedelta

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.utils import timezone

from core.exceptions import NotFound
from organizations.models import MANAGERS
from organizations.workspace import Workspace, visible_to, workspace_of
from studio.models import (
    Generation,
    Kind,
    Project,
    Sample,
    Status,
    Style,
    Webhook,
    WebhookAttempt,
    WebhookEvent,
)

RECENT_DELIVERIES = 10


def generation_count(*, user, workspace=None) -> int:
    """How many generations the workspace (default: the user's own) has, any status."""
    return Generation.objects.filter((workspace or Workspace(user)).rows()).count()


def usage_totals(*, user, since: datetime, workspace=None) -> dict[str, int]:
    """The workspace's jobs since `since` (default: the user's own): completed ones by kind
    (image, video, operation), and how many failed or were cancelled."""
    within = (workspace or Workspace(user)).rows()
    rows = (
        Generation.objects.filter(within, created_at__gte=since)
        .values("kind", "status")
        .annotate(n=Count("id"))
    )
    totals = {kind: 0 for kind in Kind.values} | {"failed": 0, "cancelled": 0}
    for row in rows:
        if row["status"] == Status.COMPLETED:
            totals[row["kind"]] += row["n"]
        elif row["status"] in (Status.FAILED, Status.CANCELLED):
            totals[row["status"]] += row["n"]
    return totals


NO_PROJECT = "none"


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def generation_list(
    *,
    user,
    kind: str | None = None,
    status: str | None = None,
    model: str | None = None,
    project: str | None = None,
    starred: bool | None = None,
    q: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    workspace=None,
) -> QuerySet:
    """The user's generations, newest first, narrowed by any of: type, status, model, project
    (`"none"`: in no project), starred, a case-insensitive text in the prompt, and the day
    they were made (`created_from`/`created_to`, both inclusive). A project that is not the
    user's is NotFound, as everywhere else: an empty page would not tell a typo from an empty
    project. `workspace`: whose (default: the user's own, outside any organization)."""
    generations = Generation.objects.filter((workspace or Workspace(user)).rows())
    if kind:
        generations = generations.filter(kind=kind)
    if status:
        generations = generations.filter(status=status)
    if model:
        generations = generations.filter(model=model)
    if project == NO_PROJECT:
        generations = generations.filter(project__isnull=True)
    elif project:
        if not Project.objects.filter(pk=project, user=user).exists():
            raise NotFound("Project not found", project=project[:64])
        generations = generations.filter(project_id=project)
    if starred is not None:
        generations = generations.filter(starred=starred)
    if q:
        generations = generations.filter(prompt__icontains=q)
    # Days as ranges of the indexed timestamp (a __date lookup would compute every row's).
    if created_from:
        generations = generations.filter(created_at__gte=_start_of(created_from))
    if created_to:
        generations = generations.filter(created_at__lt=_start_of(created_to + timedelta(days=1)))
    return generations.order_by("-created_at", "-id")


WEBHOOK_MANAGERS = "Only the organization's owners and admins manage its webhooks"


def webhook_list(*, user, workspace=None) -> QuerySet[Webhook]:
    """The workspace's webhooks (default: the user's own); an organization's are for its
    owners and admins (Forbidden for other members)."""
    workspace = workspace or Workspace(user)
    workspace.require(MANAGERS, WEBHOOK_MANAGERS)
    return Webhook.objects.filter(workspace.rows()).order_by("-created_at", "-pk")


def webhook_get(*, user, webhook_id: str) -> Webhook:
    """One of the user's webhooks or of an organization they manage; NotFound outside (no
    existence leak), Forbidden for an organization's other members."""
    webhook = Webhook.objects.filter(visible_to(user), pk=webhook_id).first()
    if webhook is None:
        raise NotFound("Webhook not found")
    if webhook.organization_id is not None:
        workspace_of(user=user, row=webhook).require(MANAGERS, WEBHOOK_MANAGERS)
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


def style_list(*, user, workspace=None) -> QuerySet[Style]:
    """The workspace's styles (default: the user's own), newest first."""
    within = (workspace or Workspace(user)).rows()
    return Style.objects.filter(within).prefetch_related("references").order_by("-created_at")


def webhook_event_choices() -> list[tuple[str, str]]:
    return list(WebhookEvent.choices)


def sample_list(*, request=None) -> list[dict]:
    """The landing page's sample pictures with signed URLs (and what made them)."""
    from studio.presenters import media_url

    return [
        {
            "slug": sample.slug,
            "prompt": sample.prompt,
            "category": sample.category,
            "seed": sample.seed,
            "url": media_url(sample.key, request),
            "thumbnail_url": media_url(sample.thumbnail_key, request),
            "width": sample.width,
            "height": sample.height,
        }
        for sample in Sample.objects.order_by("sort_order", "slug")
    ]
