"""The gallery: the user's generations with filters, one generation's page, two compared.

Reads go through the selectors and presenters the API uses, and the filters are validated by
the API's own FilterSerializer; every change is made by the page's script through the API."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat

from core.exceptions import NotFound
from core.pages import validate
from core.pagination import paginate
from organizations.workspace import session_workspace, workspace_of
from studio import presenters
from studio.apis.generations import UserGenerationsApi
from studio.labels import OPERATION_NAMES, TIMES, next_steps
from studio.models import ACTIVE, Generation, Kind, Project, Status
from studio.options import IMAGE_SIZES
from studio.selectors import NO_PROJECT, generation_count, generation_list
from studio.selectors_assets import project_list
from studio.services.generations import generation_get_for_user
from studio.services.joblog import job_log_entries, job_log_truncated
from studio.services.operations import provider_chain
from tokens.selectors import entry_list_for_subject
from tokens.services import account_for_user

PAGE_SIZE = 20
Filters = UserGenerationsApi.FilterSerializer
# The filter fields the page's form shows (page and limit are the page's own business).
FILTER_FIELDS = ("q", "type", "status", "model", "project", "starred", "from", "to")

GENERATION_PREFIXES = ("img_", "vid_", "op_")
# Two jobs are always made at different times, and their files rarely weigh the same.
UNCOMPARED = {"created", "file_size"}


def _get(request: HttpRequest, generation_id: str) -> Generation:
    try:
        return generation_get_for_user(user=request.user, generation_id=generation_id[:64])
    except NotFound:
        raise Http404("no such generation") from None


def title_of(generation: Generation) -> str:
    """What a person calls it: its prompt, or for an operation what was done."""
    if generation.prompt:
        return generation.prompt
    name = OPERATION_NAMES.get(generation.operation, "Operation")
    scale = generation.params.get("scale")
    return f"{name} {scale}{TIMES}" if scale else name


# --- The grid ---------------------------------------------------------------------------------


def _read_filters(request: HttpRequest) -> tuple[dict, dict[str, str], int]:
    """(generation_list's filters, errors by field, page number) from the query. A bad value
    is reported next to its field and left out; the other filters still apply."""
    # An empty field of the form means "any": left out, as an API client would leave it.
    data = {key: request.GET[key] for key in (*FILTER_FIELDS, "page") if request.GET.get(key)}
    values, errors = validate(Filters, data)
    for field in ("from", "to"):  # the serializer's wording names a format, not a person's words
        if field in errors and "format" in errors[field]:
            errors[field] = "Not a date: use year-month-day, like 2025-03-31."
    if errors:
        usable = {key: value for key, value in data.items() if key not in errors}
        values, _ = validate(Filters, usable)
        values = values or validate(Filters, {})[0]
    return Filters.to_filters(values), errors, values["page"]


def generation_tile(generation: Generation, request: HttpRequest) -> dict:
    """A generation as the API lists it, with what a tile of the gallery or a board shows."""
    item = presenters.generation_item(generation, request)
    item.update(
        title=title_of(generation),
        progress=generation.progress,
        active=generation.status in ACTIVE,
        label=presenters.stage(
            kind=generation.kind,
            operation=generation.operation,
            status=generation.status,
            progress=generation.progress,
        )[1],
        video=generation.kind == Kind.VIDEO,
        made_with=generation.model or f"{generation.cost} credits",
        type_label={"image": "Image", "video": "Video"}.get(generation.kind, "Operation"),
    )
    return item


@login_required
def gallery(request: HttpRequest) -> HttpResponse:
    user = request.user
    filters, errors, page_number = _read_filters(request)
    workspace = session_workspace(request)
    try:
        generations = generation_list(user=user, workspace=workspace, **filters)
    except NotFound:  # someone else's project id, as on the API
        raise Http404("no such project") from None
    page = paginate(generations, page=page_number, limit=PAGE_SIZE)
    tiles = [generation_tile(g, request) for g in page.items]
    applied = [key for key, value in filters.items() if value not in (None, "")]
    filtered = bool(applied)
    return render(
        request,
        "studio/gallery.html",
        {
            "section": "gallery",
            "tiles": tiles,
            "page": page,
            "form": {key: request.GET.get(key, "") for key in FILTER_FIELDS},
            "errors": errors,
            "filtered": filtered or bool(errors),
            "active_filters": len([key for key in applied if key != "q"]),
            "has_any": page.total > 0 or generation_count(user=user, workspace=workspace) > 0,
            "workspace": workspace,
            "choices": {
                "types": [("image", "Images"), ("video", "Videos"), ("operation", "Operations")],
                "statuses": [s for s in Status.values],
                "models": list(Filters().fields["model"].choices),
                "projects": list(
                    project_list(user=user, workspace=workspace).values("id", "name")[:100]
                ),
                "no_project": NO_PROJECT,
            },
            "page_data": {"active": [t["id"] for t in tiles if t["active"]]},
        },
    )


# --- One generation ---------------------------------------------------------------------------


def _row(key: str, label: str, value, *, url: str = "", mono: bool = False) -> dict:
    return {"key": key, "label": label, "value": value, "url": url, "mono": mono}


def parameters(generation: Generation, body: dict, project_names: dict[str, str]) -> list[dict]:
    """Every recorded setting, in words, from the job's params and the API's metadata."""
    meta, params = body["metadata"], generation.params
    rows = [_row("type", "Type", generation.kind.capitalize())]
    if generation.kind == Kind.OPERATION:
        rows.append(_row("operation", "Operation", OPERATION_NAMES.get(generation.operation)))
        source = params.get("source") or ""
        url = f"/gallery/{source}/" if source.startswith(GENERATION_PREFIXES) else ""
        rows.append(_row("source", "Source", source, url=url, mono=True))
        for key, label in (("scale", "Scale"), ("mode", "Mode"), ("detail", "Detail")):
            if key in params:
                value = f"{params[key]}{TIMES}" if key == "scale" else str(params[key]).capitalize()
                rows.append(_row(key, label, value))
    else:
        quality = f" ({meta['quality']})" if meta.get("quality") else ""
        rows.append(_row("model", "Model", f"{generation.model}{quality}"))
        if generation.kind == Kind.IMAGE:
            width, height = IMAGE_SIZES.get(params.get("size", ""), (None, None))
            size = f"{width} {TIMES} {height}" if width else params.get("size")
            rows.append(_row("size", "Size", size))
            category = generation.category
            rows.append(_row("category", "Look", category.capitalize() if category else "Any"))
            rows.append(_row("steps", "Steps", params.get("steps")))
            rows.append(_row("cfg_scale", "Guidance (CFG)", params.get("cfg_scale")))
            rows.append(_row("num_images", "Images", params.get("num_images", 1)))
        else:
            rows.append(_row("resolution", "Resolution", meta.get("resolution")))
            rows.append(_row("duration", "Duration", f"{params['duration']} s"))
            rows.append(_row("fps", "Frame rate", f"{params['fps']} fps"))
            rows.append(_row("frames", "Frames", meta.get("frames")))
        rows.append(_row("seed", "Seed", generation.seed))
        rows.append(_row("style", "Style", generation.style or "None"))
        if generation.style_ref_id or params.get("style_id"):
            name = generation.style_ref.name if generation.style_ref else params.get("style_id")
            rows.append(_row("style_id", "Saved style", name))
        if generation.operation:
            rows.append(_row("operation", "Then", OPERATION_NAMES.get(generation.operation)))
        negative = generation.negative_prompt or "None"
        rows.append(_row("negative_prompt", "Negative prompt", negative))
    project = generation.project_id
    rows.append(
        _row(
            "project",
            "Project",
            project_names.get(project, project) if project else "None",
            url=f"/projects/{project}/" if project else "",
        )
    )
    rows.append(_row("cost", "Cost", f"{generation.cost} credits"))
    if generation.status == Status.COMPLETED:
        files = body.get("files") or [{}]
        first = files[0]
        if first.get("width"):
            rows.append(_row("output", "Result", f"{first['width']} {TIMES} {first['height']}"))
        if first.get("content_type"):
            rows.append(_row("format", "Format", first["content_type"]))
        if first.get("size"):
            rows.append(_row("file_size", "File size", filesizeformat(first["size"])))
        rows.append(_row("provider", "Made by", generation.source or "—"))
    return [row for row in rows if row["value"] not in (None, "")]


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f} s" if value < 100 else f"{value / 60:.1f} min"


def timing(generation: Generation) -> list[dict]:
    rows = [_row("created", "Created", generation.created_at)]
    if generation.started_at:
        rows.append(_row("started", "Started", generation.started_at))
        waited = (generation.started_at - generation.created_at).total_seconds()
        rows.append(_row("queued_for", "Waited", _seconds(max(0.0, waited))))
    if generation.finished_at:
        rows.append(_row("finished", "Finished", generation.finished_at))
    if generation.generation_time is not None:
        seconds = _seconds(generation.generation_time)
        rows.append(_row("generation_time", "Generation time", seconds))
    return rows


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else f"{text}."


def _operations(body: dict) -> list[dict]:
    """The operations a completed raster result offers, with their prices from the catalog."""
    files = body.get("files") or []
    content_type = files[0].get("content_type", "") if files else ""
    raster = content_type.startswith("image/") and content_type != "image/svg+xml"
    if body["status"] != Status.COMPLETED or not raster:
        return []
    return next_steps()


def _media(body: dict) -> list[dict]:
    return [
        {
            **file,
            "video": file.get("content_type") == "video/mp4",
            "svg": file.get("content_type") == "image/svg+xml",
        }
        for file in body.get("files") or []
    ]


@login_required
def gallery_detail(request: HttpRequest, generation_id: str) -> HttpResponse:
    user = request.user
    generation = _get(request, generation_id)
    body = presenters.generation_detail(generation, provider_chain(generation), request)
    # Filing choices where the job was made: a project of its workspace.
    mine = workspace_of(user=user, row=generation)
    projects = list(project_list(user=user, workspace=mine).values("id", "name")[:100])
    names = {p["id"]: p["name"] for p in projects}
    # The account that paid: the organization's for work made in one.
    payer = generation.hold.account if generation.hold_id else account_for_user(user=user)
    ledger = list(entry_list_for_subject(account=payer, subject=generation))
    operations = _operations(body)
    log = job_log_entries(generation)
    return render(
        request,
        "studio/gallery_detail.html",
        {
            "section": "gallery",
            "generation": generation,
            "body": body,
            "title": title_of(generation),
            "media": _media(body),
            "parameters": parameters(generation, body, names),
            "timing": timing(generation),
            "attempts": generation.provider_attempts,
            "ledger": ledger,
            "log": log,
            "log_truncated": job_log_truncated(log),
            "projects": projects,
            "operations": operations,
            "active": generation.status in ACTIVE,
            "stage_label": presenters.stage(
                kind=generation.kind,
                operation=generation.operation,
                status=generation.status,
                progress=generation.progress,
            )[1],
            "retryable": generation.status in (Status.FAILED, Status.CANCELLED),
            "problem": _sentence(generation.error),
            "transparent": generation.operation == "background_removal",
            "page_data": {
                "id": generation.id,
                "status": generation.status,
                "title": title_of(generation),
                "operations": [
                    {k: op[k] for k in ("path", "operation", "label", "body")} for op in operations
                ],
            },
        },
    )


# --- Two side by side -------------------------------------------------------------------------


def _compare_rows(left: list[dict], right: list[dict]) -> list[dict]:
    """Both parameter lists in one set of aligned rows (a's order, then b's extras), each
    marked when the two differ."""
    a = {row["key"]: row for row in left}
    b = {row["key"]: row for row in right}
    keys = list(dict.fromkeys([*a, *b]))
    rows = []
    for key in keys:
        label = (a.get(key) or b.get(key))["label"]
        first, second = a.get(key), b.get(key)
        rows.append(
            {
                "key": key,
                "label": label,
                "a": first,
                "b": second,
                "differs": key not in UNCOMPARED
                and (first or {}).get("value") != (second or {}).get("value"),
            }
        )
    return rows


@login_required
def compare(request: HttpRequest) -> HttpResponse:
    ids = [request.GET.get("a", ""), request.GET.get("b", "")]
    if not all(ids):
        raise Http404("two generations are needed")
    generations = [_get(request, i) for i in ids]
    filed = [generation.project_id for generation in generations if generation.project_id]
    names = dict(Project.objects.filter(pk__in=filed).values_list("id", "name"))
    sides = []
    for generation in generations:
        body = presenters.generation_detail(generation, provider_chain(generation), request)
        rows = parameters(generation, body, names)
        rows.insert(0, _row("prompt", "Prompt", generation.prompt or "—"))
        rows.append(_row("status", "Status", generation.status.capitalize()))
        rows.append(_row("created", "Created", generation.created_at))
        sides.append(
            {
                "generation": generation,
                "body": body,
                "title": title_of(generation),
                "media": _media(body),
                "rows": rows,
                "transparent": generation.operation == "background_removal",
            }
        )
    rows = _compare_rows(sides[0]["rows"], sides[1]["rows"])
    return render(
        request,
        "studio/compare.html",
        {
            "section": "gallery",
            "a": sides[0],
            "b": sides[1],
            "rows": rows,
            "differences": sum(1 for row in rows if row["differs"]),
        },
    )
