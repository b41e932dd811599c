"""Reads for templates, executions and usage."""

from datetime import timedelta

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Exists, F, FloatField, OuterRef, Q, QuerySet, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, NullIf, TruncDate
from django.utils import timezone

from core.exceptions import Forbidden, NotFound
from organizations.workspace import Workspace, may_change, visible_to
from pipelines.models import Execution, ExecutionStep, Rating, Template, Visibility
from studio.models import Generation, JobLogEntry, Kind, Status
from tokens.models import EntryKind, Hold, LedgerEntry

SORTS = {
    "popular": ["-featured", "-runs", "-created_at"],  # support's picks first
    "rating": ["-rating_avg", "-rating_count", "-created_at"],
    "newest": ["-created_at"],
}


def template_list(
    *, user, q: str | None = None, tag: str | None = None, sort: str = "popular", mine: str = "all"
) -> QuerySet[Template]:
    """Public templates and the user's own (`mine`: all, mine, public), searched and sorted."""
    own = Q(owner=user) if user is not None and user.is_authenticated else Q(pk__in=[])
    if mine == "mine":
        visible = own
    elif mine == "public":
        visible = Q(visibility=Visibility.PUBLIC)
    else:
        visible = Q(visibility=Visibility.PUBLIC) | own
    templates = Template.objects.filter(visible).select_related("owner", "cover")
    if q:
        templates = templates.filter(
            Q(name__icontains=q) | Q(description__icontains=q) | Q(tag_index__icontains=q)
        )
    if tag:
        templates = templates.filter(tag_index__contains=f",{tag},")
    templates = templates.annotate(
        rating_avg=Cast(F("rating_sum"), FloatField())
        / NullIf(Cast(F("rating_count"), FloatField()), 0.0)
    )
    if sort == "rating":  # unrated ones (no average) last: PostgreSQL sorts NULL first
        return templates.order_by(F("rating_avg").desc(nulls_last=True), "-rating_count", "-pk")
    return templates.order_by(*SORTS.get(sort, SORTS["popular"]), "-pk")


def template_tags(*, user) -> list[str]:
    """Every tag in use on what the user can see, for the gallery's filter."""
    tags: set[str] = set()
    for values in template_list(user=user).values_list("tags", flat=True)[:500]:
        tags.update(values or [])
    return sorted(tags)


def rating_of(*, user, template: Template) -> int | None:
    """The user's own rating of a template (None: not rated, or nobody signed in)."""
    if user is None or not user.is_authenticated:
        return None
    return (
        Rating.objects.filter(template=template, user=user).values_list("score", flat=True).first()
    )


def execution_get_for_user(
    *, user, execution_id: str, change: bool = False, maker: bool = False
) -> Execution:
    """An execution the user can see (their own, or their organizations'); anyone else's is as
    absent as a missing one (404). `change`: they are about to change it (cancel, retry), which
    in an organization is for whoever started it and the managers (403 for other members).
    `maker`: one `user` started, wherever (support and account deletion acting for them)."""
    execution = (
        Execution.objects.filter(Q(user=user) if maker else visible_to(user), pk=execution_id)
        .select_related("organization")
        .first()
    )
    if execution is None:
        raise NotFound("Execution not found", id=str(execution_id)[:64])
    if change and not maker and not may_change(user, execution):
        raise Forbidden("Only whoever started it and the organization's owners and admins can")
    return execution


def execution_list(
    *,
    user,
    template_id: str | None = None,
    status: str | None = None,
    workspace: Workspace | None = None,
):
    """The executions of `workspace` (default: the user's own, outside any organization),
    newest first, narrowed by template and status."""
    # `started`: a queued run whose first step a worker has taken is shown as running.
    started = ExecutionStep.objects.filter(
        execution=OuterRef("pk"), generation__status__in=[Status.GENERATING, Status.COMPLETED]
    )
    executions = (
        Execution.objects.filter((workspace or Workspace(user)).rows())
        .select_related("template")
        .annotate(started=Exists(started))
    )
    if template_id:
        executions = executions.filter(template_id=template_id)
    if status:
        executions = executions.filter(status=status)
    return executions.order_by("-created_at", "-pk")


def execution_holds(execution: Execution):
    """Every hold the execution had, oldest first: its first run's and one per retry."""
    content_type = ContentType.objects.get_for_model(Execution)
    return Hold.objects.filter(content_type=content_type, object_id=execution.pk).order_by("pk")


def execution_credits(execution: Execution) -> dict:
    """Held / charged / released over every hold of the execution (a retry opens another)."""
    holds = execution_holds(execution)
    held = holds.aggregate(total=Sum("amount"))["total"] or 0
    entries = LedgerEntry.objects.filter(hold__in=holds)
    charged = -(entries.filter(kind=EntryKind.CAPTURE).aggregate(s=Sum("amount"))["s"] or 0)
    released = -(entries.filter(kind=EntryKind.RELEASE).aggregate(s=Sum("held_delta"))["s"] or 0)
    return {
        "held": held,
        "charged": charged,
        "released": released,
        "outstanding": held - charged - released,
    }


def execution_log(execution: Execution) -> list[dict]:
    """The run's story in time order: when it was asked for, each retry, and every step's job
    log (earlier attempts' jobs included), each line naming its step. Bounded like the jobs'
    logs it is made of."""
    steps = {
        job: step
        for step in execution.steps.only("position", "operation", "generation_id", "earlier_jobs")
        for job in [*step.earlier_jobs, step.generation_id]
        if job
    }
    lines = [
        {
            "at": execution.created_at,
            "step": None,
            "event": "queued",
            "message": f"Asked for: {execution.cost} credit(s) held for the whole run",
            "data": {},
        }
    ]
    for attempt, hold in enumerate(execution_holds(execution)[1:], start=2):
        lines.append(
            {
                "at": hold.created_at,
                "step": None,
                "event": "retried",
                "message": f"Retried (attempt {attempt}): {hold.amount} credit(s) held "
                "for the steps left",
                "data": {"attempt": attempt},
            }
        )
    for entry in JobLogEntry.objects.filter(generation_id__in=list(steps)).order_by("at", "id"):
        step = steps[entry.generation_id]
        lines.append(
            {
                "at": entry.at,
                "step": step.position + 1,
                "event": entry.event,
                "message": f"Step {step.position + 1} ({step.operation}): {entry.message}",
                "data": entry.data,
            }
        )
    lines.sort(key=lambda line: line["at"])  # stable: lines at the same time keep their order
    return lines


def usage_report(*, user, days: int = 30) -> dict:
    """Generations, operations, executions and credits by day and by operation for the last
    `days` days, and runs per template."""
    since = timezone.now() - timedelta(days=days)
    today = timezone.now().date()
    calendar = [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    by_day = {
        day: {
            "date": day.isoformat(),
            "generations": 0,
            "operations": 0,
            "executions": 0,
            "credits": 0,
        }
        for day in calendar
    }
    jobs = (
        Generation.objects.filter(user=user, created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day", "kind")
        .annotate(n=Count("id"))
    )
    for row in jobs:
        bucket = by_day.get(row["day"])
        if bucket is not None:
            bucket["operations" if row["kind"] == Kind.OPERATION else "generations"] += row["n"]
    runs = (
        Execution.objects.filter(user=user, created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
    )
    for row in runs:
        if row["day"] in by_day:
            by_day[row["day"]]["executions"] += row["n"]
    spent = (
        LedgerEntry.objects.filter(
            account__user=user, kind=EntryKind.CAPTURE, created_at__gte=since
        )
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(total=Sum("amount"))
    )
    for row in spent:
        if row["day"] in by_day:
            by_day[row["day"]]["credits"] += -row["total"]
    by_operation = [
        {"operation": row["label"], "count": row["n"], "credits": row["credits"] or 0}
        for row in Generation.objects.filter(
            user=user, created_at__gte=since, status=Status.COMPLETED
        )
        .annotate(label=_operation_label())
        .values("label")
        .annotate(n=Count("id"), credits=Sum("cost"))
        .order_by("-n", "label")
    ]
    templates = [
        {
            "template": row["template_id"],
            "name": row["template__name"] or row["snapshot_name"],
            "runs": row["n"],
        }
        for row in Execution.objects.filter(user=user, created_at__gte=since)
        .annotate(snapshot_name=KeyTextTransform("name", "snapshot"))
        .values("template_id", "template__name", "snapshot_name")
        .annotate(n=Count("id"))
        .order_by("-n")[:50]
    ]
    return {
        "period": {"from": calendar[0].isoformat(), "to": today.isoformat(), "days": days},
        "totals": {
            key: sum(day[key] for day in by_day.values())
            for key in ("generations", "operations", "executions", "credits")
        },
        "byDay": list(by_day.values()),
        "byOperation": by_operation,
        "templates": templates,
    }


def _operation_label():
    from django.db.models import Case, CharField, Value, When
    from django.db.models.functions import Concat

    return Case(
        When(~Q(operation=""), then=F("operation")),
        When(kind=Kind.VIDEO, then=Concat(Value("video_generation:"), F("model"))),
        default=Concat(Value("image_generation:"), F("model")),
        output_field=CharField(),
    )
