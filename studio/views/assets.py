"""Assets (uploads and the files jobs made, with the operations they offer) and projects
(boards that hold assets and generations).

Reads go through the selectors and the API's own presenters (asset_data, project_data); the
query string is validated by the API's serializers; every change (upload, rename, move,
duplicate, delete, operations) is made by the pages' script through the API."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat

from core.exceptions import NotFound
from core.pages import validate
from core.pagination import PageQuerySerializer, paginate
from organizations.workspace import Workspace, session_workspace, workspace_of
from studio import presenters
from studio.apis.assets import UNFILED, AssetListApi, asset_data
from studio.apis.projects import DESCRIPTION_MAX, NAME_MAX, project_data
from studio.labels import TIMES, next_steps
from studio.models import Asset, AssetKind
from studio.selectors import generation_list
from studio.selectors_assets import asset_get, asset_list, project_get, project_list
from studio.uploads import JPEG, PNG, WEBP, human_size
from studio.views.gallery import generation_tile

PAGE_SIZE = 24
PROJECTS_PAGE_SIZE = 18
COVERS = 4  # thumbnails on a project's card
PROJECT_CHOICES = 100  # projects offered in a "move to" select, newest first
TABS = ("assets", "generations")
NOUNS = ("asset", "assets")
AssetFilters = AssetListApi.FilterSerializer
UPLOAD_FORMATS = (PNG, JPEG, WEBP)
FORMAT_LABELS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/webp": "WebP",
    "image/svg+xml": "SVG",
    "video/mp4": "MP4",
}


def _query(serializer_class, request: HttpRequest, fields: tuple[str, ...]) -> tuple[dict, dict]:
    """(values, errors by field) of the query string, by the API's serializer. A bad value is
    reported and left out; the rest still applies (an empty field of a form means "any")."""
    data = {key: request.GET[key] for key in fields if request.GET.get(key)}
    values, errors = validate(serializer_class, data)
    if errors:
        values, _ = validate(serializer_class, {k: v for k, v in data.items() if k not in errors})
    return values, errors


def _count(page, one: str, many: str) -> dict:
    """ "12 assets", "1 generation · page 2 of 3", with the words for the script's updates."""
    text = f"{page.total} {one if page.total == 1 else many}"
    if page.pages > 1:
        text += f" · page {page.page} of {page.pages}"
    return {"text": text, "total": page.total, "one": one, "many": many}


def _project_choices(user, workspace: Workspace) -> list[dict]:
    return list(project_list(user=user, workspace=workspace).values("id", "name")[:PROJECT_CHOICES])


def _upload_rules() -> dict:
    """What the uploader tells people before they pick a file: the limits the server applies."""
    names = [FORMAT_LABELS[fmt.content_type] for fmt in UPLOAD_FORMATS]
    return {
        "accept": ",".join(fmt.content_type for fmt in UPLOAD_FORMATS),
        "formats": f"{', '.join(names[:-1])} or {names[-1]}",
        "max_bytes": human_size(settings.UPLOAD_MAX_BYTES),
        "max_pixels": f"{settings.UPLOAD_MAX_PIXELS / 1e6:g} million pixels",
    }


def asset_card(asset: Asset, request: HttpRequest, project_names: dict[str, str]) -> dict:
    """An asset as the API shows it, with what the page says about it in words."""
    card = asset_data(asset, request)
    content_type = asset.content_type
    card.update(
        title=asset.name or asset.id,
        format=FORMAT_LABELS.get(content_type, content_type),
        upload=asset.kind == AssetKind.UPLOAD,
        video=content_type == "video/mp4",
        svg=content_type == "image/svg+xml",
        raster=content_type.startswith("image/") and content_type != "image/svg+xml",
        dimensions=f"{asset.width} {TIMES} {asset.height}" if asset.width else "",
        size_label=filesizeformat(asset.size),
        project_name=project_names.get(asset.project_id, "") if asset.project_id else "",
        created=asset.created_at,
    )
    return card


# --- Assets ----------------------------------------------------------------------------------


@login_required
def assets(request: HttpRequest) -> HttpResponse:
    user = request.user
    workspace = session_workspace(request)
    values, errors = _query(AssetFilters, request, ("project", "kind", "page"))
    project = values.get("project")
    try:
        found = asset_list(
            user=user,
            workspace=workspace,
            project_id=None if project == UNFILED else project,
            unfiled=project == UNFILED,
            kind=values.get("kind"),
        )
    except NotFound:  # someone else's project id, as on the API
        raise Http404("no such project") from None
    page = paginate(found, page=values["page"], limit=PAGE_SIZE)
    projects = _project_choices(user, workspace)
    names = {p["id"]: p["name"] for p in projects}
    filtered = bool(project or values.get("kind"))
    return render(
        request,
        "studio/assets.html",
        {
            "section": "assets",
            "cards": [asset_card(asset, request, names) for asset in page.items],
            "page": page,
            "count": _count(page, *(("match", "matches") if filtered else NOUNS)),
            "scope": project or "",
            "errors": errors,
            "form": {key: request.GET.get(key, "") for key in ("project", "kind")},
            "filtered": filtered or bool(errors),
            "has_any": page.total > 0 or Asset.objects.filter(workspace.rows()).exists(),
            "workspace": workspace,
            "kinds": [("upload", "Uploads"), ("generated", "Made by jobs")],
            "projects": projects,
            "unfiled": UNFILED,
            "rules": _upload_rules(),
            # An upload lands in the project the grid shows, so that it appears in it.
            "upload_project": project if project and project != UNFILED else "",
            "page_data": {"formats": FORMAT_LABELS},
        },
    )


@login_required
def asset_detail(request: HttpRequest, asset_id: str) -> HttpResponse:
    user = request.user
    try:
        asset = asset_get(user=user, asset_id=asset_id[:64])
    except NotFound:
        raise Http404("no such asset") from None
    projects = _project_choices(user, workspace_of(user=user, row=asset))
    if asset.project_id and asset.project_id not in {p["id"] for p in projects}:
        projects.append({"id": asset.project_id, "name": asset.project.name})
    card = asset_card(asset, request, {p["id"]: p["name"] for p in projects})
    operations = next_steps() if card["raster"] else []
    return render(
        request,
        "studio/asset_detail.html",
        {
            "section": "assets",
            "asset": card,
            "projects": projects,
            "operations": operations,
            "operations_note": (
                f"Operations work on pictures ({_upload_rules()['formats']}); "
                f"this file is {card['format']}."
            ),
            "name_max": Asset._meta.get_field("name").max_length,
            "page_data": {
                "id": asset.id,
                # Results are filed where their source is, so a board keeps what came of it.
                "project": asset.project_id,
                "operations": [
                    {key: op[key] for key in ("path", "operation", "label", "body")}
                    for op in operations
                ],
            },
        },
    )


# --- Projects --------------------------------------------------------------------------------


def _covers(
    user, workspace: Workspace, project_ids: list[str], request: HttpRequest
) -> dict[str, list[str]]:
    """Up to COVERS thumbnails of each project's newest assets, in one query."""
    if not project_ids:
        return {}
    newest = (
        asset_list(user=user, workspace=workspace)
        .filter(project_id__in=project_ids)
        .exclude(thumbnail_key="")
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("project_id")],
                order_by=[F("created_at").desc(), F("id").desc()],
            )
        )
        .filter(rank__lte=COVERS)
    )
    covers: dict[str, list[str]] = {}
    for asset in newest:
        covers.setdefault(asset.project_id, []).append(
            presenters.media_url(asset.thumbnail_key, request)
        )
    return covers


def _project_card(project, covers: dict[str, list[str]]) -> dict:
    card = project_data(project)
    card.update(
        covers=covers.get(project.id, []),
        updated=project.updated_at,
        empty=not card["assetCount"] and not card["generationCount"],
    )
    return card


def _limits() -> dict:
    return {"name_max": NAME_MAX, "description_max": DESCRIPTION_MAX}


@login_required
def projects(request: HttpRequest) -> HttpResponse:
    user = request.user
    workspace = session_workspace(request)
    values, errors = _query(PageQuerySerializer, request, ("page",))
    page = paginate(
        project_list(user=user, workspace=workspace), page=values["page"], limit=PROJECTS_PAGE_SIZE
    )
    covers = _covers(user, workspace, [p.id for p in page.items], request)
    return render(
        request,
        "studio/projects.html",
        {
            "section": "projects",
            "cards": [_project_card(project, covers) for project in page.items],
            "page": page,
            "errors": errors,
            "limits": _limits(),
            "workspace": workspace,
        },
    )


@login_required
def project_detail(request: HttpRequest, project_id: str) -> HttpResponse:
    user = request.user
    try:
        project = project_get(user=user, project_id=project_id[:64])
    except NotFound:
        raise Http404("no such project") from None
    tab = request.GET.get("show") if request.GET.get("show") in TABS else TABS[0]
    values, errors = _query(PageQuerySerializer, request, ("page",))
    workspace = workspace_of(user=user, row=project)  # the project's, whichever is chosen
    projects = _project_choices(user, workspace)
    if tab == "assets":
        names = {p["id"]: p["name"] for p in projects}
        page = paginate(
            asset_list(user=user, workspace=workspace, project_id=project.id),
            page=values["page"],
            limit=PAGE_SIZE,
        )
        cards = [asset_card(asset, request, names) for asset in page.items]
    else:
        page = paginate(
            generation_list(user=user, workspace=workspace, project=project.id),
            page=values["page"],
            limit=PAGE_SIZE,
        )
        cards = [generation_tile(generation, request) for generation in page.items]
    card = _project_card(project, {})
    return render(
        request,
        "studio/project_detail.html",
        {
            "section": "projects",
            "project": card,
            "tab": tab,
            "cards": cards,
            "page": page,
            "count": _count(page, *(NOUNS if tab == "assets" else ("generation", "generations"))),
            "errors": errors,
            "others": [p for p in projects if p["id"] != project.id],
            "limits": _limits(),
            "rules": _upload_rules(),
            "page_data": {"formats": FORMAT_LABELS},
        },
    )
