"""Template pages: the gallery of templates, a template's run form, your runs and one run's
progress. Reads go through the selectors and presenters the API uses and the query string is
validated by the API's own serializers; every change (run, rate, cancel, retry, delete) is made
by the pages' scripts through the API (static/js/templates.js, execution.js)."""

import math
from hashlib import blake2b

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from core.exceptions import DomainError, NotFound
from core.pages import validate
from core.pagination import paginate
from pipelines import presenters, spec
from pipelines.apis.executions import UserExecutionsApi
from pipelines.apis.templates import TemplateListApi
from pipelines.models import EXECUTION_ACTIVE, Step, StepStatus, Template
from pipelines.selectors import (
    execution_get_for_user,
    execution_list,
    execution_log,
    rating_of,
    template_list,
    template_tags,
)
from pipelines.services.pricing import template_cost
from pipelines.services.templates import template_visible
from studio import presenters as studio_presenters
from studio.apis.assets import asset_data
from studio.apis.job_types import JOB_TYPES
from studio.models import Generation
from studio.selectors_assets import asset_list
from studio.services.generations import SEED_MAX
from tokens.services import account_for_user

PAGE_SIZE = 12
RUNS_PAGE_SIZE = 20
RECENT_RUNS = 5
PICKER_IMAGES = 24  # the newest of your pictures an image input offers
HUES = 6  # placeholder cover colours (templates.css .hue-0 … .hue-5)
TemplateFilters = TemplateListApi.FilterSerializer
RunFilters = UserExecutionsApi.FilterSerializer
FILTER_FIELDS = ("q", "tag", "sort", "owner")
SORTS = (("popular", "Most used"), ("rating", "Best rated"), ("newest", "Newest"))
OWNERS = (("all", "All"), ("public", "Public"), ("mine", "Mine"))
RUN_STATUSES = (
    ("", "All"),
    ("queued", "Queued"),
    ("running", "Running"),
    ("completed", "Completed"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
)
# A step's operation as an icon of the sprite: the studio's next-step icons, and the rest.
ICONS = presenters.STEP_ICONS
# Segmented buttons for a few short options; a select for more.
SEGMENTED_MAX = 4
SEGMENTED_LABEL = 14
STEP_WORDS = {
    StepStatus.PENDING: "Waits for the step before",
    StepStatus.SKIPPED: "Skipped",
    StepStatus.QUEUED: studio_presenters.STAGE_LABELS["queued"],
    StepStatus.COMPLETED: "Done",
    StepStatus.FAILED: "Failed",
    StepStatus.CANCELLED: "Cancelled",
}
BADGES = {
    "completed": "badge-success",
    "failed": "badge-danger",
    "cancelled": "badge-warning",
    "pending": "",
    "skipped": "",
}


def _query(serializer_class, request: HttpRequest, fields: tuple[str, ...]) -> tuple[dict, dict]:
    """(values, errors by field) of the query string, by the API's serializer: a bad value is
    reported and left out, the rest still applies (an empty field of a form means "any")."""
    data = {key: request.GET[key] for key in fields if request.GET.get(key)}
    values, errors = validate(serializer_class, data)
    if errors:
        values, _ = validate(serializer_class, {k: v for k, v in data.items() if k not in errors})
    return values, errors


def _visible(request: HttpRequest, template_id: str) -> Template:
    try:
        return template_visible(user=request.user, template_id=template_id[:64])
    except NotFound:
        raise Http404("no such template") from None


def stars(average: float | None) -> list[str]:
    """Five stars for an average, to the nearest half: "on", "half" or "off"."""
    halves = math.floor((average or 0) * 2 + 0.5)  # half up, as the page's script rounds
    return [
        "on" if halves >= 2 * n else "half" if halves == 2 * n - 1 else "off"
        for n in (1, 2, 3, 4, 5)
    ]


def _hue(template_id: str) -> int:
    """A stable colour for a template without a cover (the same on every visit)."""
    return blake2b(template_id.encode(), digest_size=2).digest()[0] % HUES


def _chain(operations: list[str]) -> list[dict]:
    return [
        {
            "operation": operation,
            "icon": ICONS.get(operation, "sparkles"),
            "label": _label(operation),
        }
        for operation in operations
    ]


def _label(operation: str) -> str:
    job = JOB_TYPES.get(operation)
    return job.label if job else operation


def _operations(template_ids: list[str]) -> dict[str, list[str]]:
    """Each template's steps (its first pipeline's, the one that runs), in one query."""
    rows = (
        Step.objects.filter(pipeline__template_id__in=template_ids)
        .order_by("pipeline__template_id", "pipeline__position", "pipeline__created_at", "position")
        .values_list("pipeline__template_id", "pipeline_id", "operation")
    )
    found: dict[str, tuple[str, list[str]]] = {}
    for template_id, pipeline_id, operation in rows:
        first, operations = found.setdefault(template_id, (pipeline_id, []))
        if pipeline_id == first:
            operations.append(operation)
    return {template_id: operations for template_id, (_, operations) in found.items()}


def template_card(template: Template, request: HttpRequest, operations: list[str]) -> dict:
    """A template as the API lists it, with what its card shows besides."""
    card = presenters.template_item(template, request.user, request)
    card.update(
        stars=stars(card["rating"]["average"]), chain=_chain(operations), hue=_hue(template.pk)
    )
    return card


# --- The gallery -----------------------------------------------------------------------------


@login_required
def templates(request: HttpRequest) -> HttpResponse:
    user = request.user
    values, errors = _query(TemplateFilters, request, (*FILTER_FIELDS, "page"))
    found = template_list(
        user=user,
        q=(values.get("q") or "").strip() or None,
        tag=values.get("tag"),
        sort=values["sort"],
        mine=values["owner"],
    )
    page = paginate(found, page=values["page"], limit=PAGE_SIZE)
    operations = _operations([t.pk for t in page.items])
    cards = [template_card(t, request, operations.get(t.pk, [])) for t in page.items]
    filtered = bool(values.get("q") or values.get("tag") or values["owner"] != "all")
    return render(
        request,
        "pipelines/templates.html",
        {
            "section": "templates",
            "cards": cards,
            "page": page,
            "form": {
                "q": request.GET.get("q", ""),
                "tag": values.get("tag", ""),
                "sort": values["sort"],
                "owner": values["owner"],
            },
            "errors": errors,
            "filtered": filtered or bool(errors),
            "tags": template_tags(user=user),
            "sorts": SORTS,
            "owners": OWNERS,
            "q_max": TemplateFilters().fields["q"].max_length,
        },
    )


# --- A template: its run form ------------------------------------------------------------------


def _number(value):
    """1.0 → 1 for the form's attributes and values (the model keeps limits as floats)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _prefill(request: HttpRequest, template: Template) -> tuple[dict, str]:
    """The form's starting values: those a run of yours used (`?from=<execution id>`, "run
    again", seeds included), for the inputs the template still has."""
    source_id = request.GET.get("from", "")
    if not source_id:
        return {}, ""
    try:
        source = execution_get_for_user(user=request.user, execution_id=source_id[:64])
    except NotFound:
        raise Http404("no such execution") from None
    names = set(template.inputs.values_list("name", flat=True))
    return {k: v for k, v in source.inputs.items() if k in names}, source.pk


def _images(request: HttpRequest, chosen: list[str]) -> list[dict]:
    """The pictures an image input offers: your newest, and any a prefilled run used."""
    pictures = asset_list(user=request.user).filter(content_type__startswith="image/")
    pictures = pictures.exclude(content_type="image/svg+xml")
    shown = list(pictures[:PICKER_IMAGES])
    missing = [pk for pk in chosen if pk and pk not in {a.pk for a in shown}]
    if missing:
        shown += list(pictures.filter(pk__in=missing))
    return [{**asset_data(asset, request), "title": asset.name or asset.pk} for asset in shown]


def control(definition: dict, value, images: list[dict]) -> dict:
    """One input of the template as a form control, with the limits the API checks it by
    (pipelines.spec): text lengths, a number's range and step, the seed's range."""
    kind, name = definition["type"], definition["name"]
    field = {
        **definition,
        "id": f"in-{name}",
        "label": definition["label"] or name.replace("_", " ").capitalize(),
        "value": definition["default"] if value is None else value,
        "control": kind,
    }
    if kind in spec.TEXT_LIMIT:
        field["maxlength"] = spec.TEXT_LIMIT[kind]
    elif kind == "number":
        low, high, step = (_number(definition[k]) for k in ("min", "max", "step"))
        field.update(min=low, max=high, step=step or "any", value=_number(field["value"]))
        field["slider"] = low is not None and high is not None
        field["slider_value"] = field["value"] if field["value"] is not None else low
    elif kind == "seed":
        field.update(min=0, max=SEED_MAX)
    elif kind == "choice":
        options = definition["options"]
        short = len(options) <= SEGMENTED_MAX and all(len(o) <= SEGMENTED_LABEL for o in options)
        field["control"] = "segmented" if short else "select"
    elif kind == "image":
        field["images"] = images
    return field


def _steps(body: dict, plan) -> list[dict]:
    costs = {s["number"]: s["cost"] for s in presenters.plan_body(plan)["steps"]} if plan else {}
    return [
        {
            **step,
            "icon": ICONS.get(step["operation"], "sparkles"),
            "cost": costs.get(step["number"]),
        }
        for step in body["steps"]
    ]


@login_required
def template_detail(request: HttpRequest, template_id: str) -> HttpResponse:
    user = request.user
    template = _visible(request, template_id)
    values, source = _prefill(request, template)
    rating = rating_of(user=user, template=template)
    body = presenters.template_detail(template, user, request, rating)
    try:  # the price as the API's /cost gives it; the page's script keeps it up to date
        plan = template_cost(user=user, template_id=template.pk, inputs=values)
    except (DomainError, spec.DocumentInvalid):
        plan = None
    image_inputs = [i["name"] for i in body["inputs"] if i["type"] == "image"]
    images = _images(request, [values.get(n) for n in image_inputs]) if image_inputs else []
    controls = [control(i, values.get(i["name"]), images) for i in body["inputs"]]
    account = account_for_user(user=user)
    total = plan.total if plan else None
    recent = list(execution_list(user=user, template_id=template.pk)[:RECENT_RUNS])
    return render(
        request,
        "pipelines/template_detail.html",
        {
            "section": "templates",
            "template": body,
            "stars": stars(body["rating"]["average"]),
            "hue": _hue(template.pk),
            "chain": _chain([s["operation"] for s in body["steps"]]),
            "controls": controls,
            "steps": _steps(body, plan),
            "total": total,
            "available": account.available,
            "short": total is not None and total > account.available,
            "source": source,
            "runs": [_run_row(e) for e in recent],
            "page_data": {
                "id": template.pk,
                "seedMax": SEED_MAX,
                "available": account.available,
                "mine": body["mine"],
            },
        },
    )


# --- Your runs ---------------------------------------------------------------------------------


def _run_row(execution) -> dict:
    item = presenters.execution_item(execution)
    done = sum(1 for s in execution.steps.all() if s.status == StepStatus.COMPLETED)
    item.update(
        badge=BADGES.get(execution.status, "badge-accent"),
        done=done,
        active=execution.status in EXECUTION_ACTIVE,
        created=execution.created_at,
    )
    return item


@login_required
def executions(request: HttpRequest) -> HttpResponse:
    user = request.user
    values, errors = _query(RunFilters, request, ("status", "page"))
    status = values.get("status", "all")
    found = execution_list(user=user, status=None if status == "all" else status)
    page = paginate(found.prefetch_related("steps"), page=values["page"], limit=RUNS_PAGE_SIZE)
    return render(
        request,
        "pipelines/executions.html",
        {
            "section": "templates",
            "runs": [_run_row(e) for e in page.items],
            "page": page,
            "status": "" if status == "all" else status,
            "statuses": RUN_STATUSES,
            "errors": errors,
            "has_any": page.total > 0 or execution_list(user=user).exists(),
        },
    )


# --- One run ---------------------------------------------------------------------------------


def _stage_labels(body: dict) -> dict[int, str]:
    """What a running step's job is doing, in the studio's words (studio.presenters.stage)."""
    jobs = {s["job"]: s["number"] for s in body["steps"] if s["status"] == "running" and s["job"]}
    labels = {}
    for job in Generation.objects.filter(pk__in=list(jobs)):
        labels[jobs[job.pk]] = studio_presenters.stage(
            kind=job.kind, operation=job.operation, status=job.status, progress=job.progress
        )[1]
    return labels


def _transparent(step: dict) -> bool:
    """A cut-out (and what is traced from one) is mostly transparent: on a checkerboard."""
    return (
        step["operation"] == "remove-background" or (step["output"] or {}).get("type") == "vector"
    )


def step_card(step: dict, label: str = "") -> dict:
    output = step["output"] or {}
    return {
        **step,
        "icon": ICONS.get(step["operation"], "sparkles"),
        "badge": BADGES.get(step["status"], "badge-accent"),
        "label": label or STEP_WORDS.get(step["status"], "Working"),
        "media": output.get("type") in ("image", "vector", "video"),
        "transparent": _transparent(step),
    }


def _featured(body: dict) -> dict | None:
    """The result to show big: the last output of a picture or video."""
    for step in reversed(body["steps"]):
        output = step["output"] or {}
        if output.get("type") in ("image", "vector", "video"):
            return {**output, "step": step["number"], "transparent": _transparent(step)}
    return None


@login_required
def execution_detail(request: HttpRequest, execution_id: str) -> HttpResponse:
    try:
        execution = execution_get_for_user(user=request.user, execution_id=execution_id[:64])
    except NotFound:
        raise Http404("no such execution") from None
    body = presenters.execution_detail(execution, request)
    labels = _stage_labels(body)
    template = None
    if execution.template_id:
        template = template_list(user=request.user).filter(pk=execution.template_id).first()
    return render(
        request,
        "pipelines/execution.html",
        {
            "section": "templates",
            "execution": body,
            "badge": BADGES.get(body["status"], "badge-accent"),
            "active": body["status"] in EXECUTION_ACTIVE,
            "steps": [step_card(s, labels.get(s["number"], "")) for s in body["steps"]],
            "featured": _featured(body) if body["status"] == "completed" else None,
            "template_live": template is not None,
            "retry_cost": body["retryCost"],
            "created": execution.created_at,
            "log": execution_log(execution),
            "page_data": {"id": execution.pk, "status": body["status"]},
        },
    )
