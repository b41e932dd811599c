"""The studio page: the generation form and the canvas. Reads go through the same selectors
and presenters as the API; every change is made by the page's script through the API."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from core.exceptions import NotFound
from organizations.workspace import session_workspace
from studio import presenters
from studio.apis.generations import GenerateImageApi, GenerateVideoApi, PromptFields
from studio.labels import OPERATION_NAMES, next_steps
from studio.models import ACTIVE, Kind
from studio.options import CATEGORIES, IMAGE_MODELS, IMAGE_SIZES, VIDEO_MODELS, VIDEO_STYLES
from studio.selectors import generation_list, style_list
from studio.selectors_assets import project_list
from studio.services.generations import generation_get_for_user
from studio.services.operations import provider_chain
from tokens import catalog

RECENT = 12


def _limits(serializer_class) -> dict:
    """min/max/length limits of an API input serializer's fields, for the form's controls:
    the page states the API's rules, it does not keep its own."""
    limits = {}
    for name, field in serializer_class().fields.items():
        found = {
            key: getattr(field, attr)
            for key, attr in (
                ("min", "min_value"),
                ("max", "max_value"),
                ("minlength", "min_length"),
                ("maxlength", "max_length"),
            )
            if getattr(field, attr, None) is not None
        }
        default = getattr(field, "default", None)
        if default is not None and not callable(default) and type(default).__name__ != "empty":
            found["default"] = default
        limits[name] = found
    return limits


def studio_options() -> dict:
    """What the studio form offers, from the options, the price list and the API's fields."""
    image_prices = {
        model: catalog.cost_of(catalog.IMAGE_GENERATION, model) for model in IMAGE_MODELS
    }
    video_prices = {
        model: catalog.cost_of(catalog.VIDEO_GENERATION, model) for model in VIDEO_MODELS
    }
    return {
        "image_models": [
            {"value": m, "quality": info.quality, "cost": image_prices[m]}
            for m, info in IMAGE_MODELS.items()
        ],
        "video_models": [
            {
                "value": m,
                "quality": info.quality,
                "cost": video_prices[m],
                "max_duration": info.max_duration,
                "resolution": info.resolution,
            }
            for m, info in VIDEO_MODELS.items()
        ],
        "categories": CATEGORIES,
        "sizes": list(IMAGE_SIZES),
        "video_styles": VIDEO_STYLES,
        "image": _limits(GenerateImageApi.InputSerializer),
        "video": _limits(GenerateVideoApi.InputSerializer),
        "prompt": _limits(PromptFields),
        "operations": next_steps(),
        "operation_names": OPERATION_NAMES,
    }


def _prefill(request: HttpRequest) -> tuple[dict, dict | None]:
    """The form's starting values: a generation's recorded settings (?from=<id>, "use these
    settings", seed included) or a prompt handed over in the query (the landing's samples)."""
    source_id = request.GET.get("from", "")
    if source_id:
        try:
            source = generation_get_for_user(user=request.user, generation_id=source_id[:64])
        except NotFound:
            raise Http404("no such generation") from None
        if source.kind != Kind.OPERATION:
            params = dict(source.params)
            params.pop("palette", None)
            params["kind"] = source.kind
            if source.operation:  # a vector generation: draw it the same way, as a raster
                params.pop("operation", None)
            return params, presenters.generation_detail(source, provider_chain(source), request)
    values = {}
    for key in ("prompt", "category", "model", "size", "style"):
        if request.GET.get(key):
            values[key] = request.GET[key][:500]
    seed = request.GET.get("seed", "")
    if seed.isdigit():
        values["seed"] = int(seed)
    if request.GET.get("kind") in (Kind.IMAGE, Kind.VIDEO):
        values["kind"] = request.GET["kind"]
    return values, None


@login_required
def studio(request: HttpRequest) -> HttpResponse:
    user = request.user
    values, shown = _prefill(request)
    values.setdefault("seed", None)
    workspace = session_workspace(request)
    recent = list(generation_list(user=user, workspace=workspace)[:RECENT])
    active = [g.id for g in recent if g.status in ACTIVE]
    account = workspace.account()
    options = studio_options()
    return render(
        request,
        "studio/studio.html",
        {
            "section": "studio",
            "options": options,
            "values": values,
            "kind": values.get("kind", Kind.IMAGE),
            "styles": list(style_list(user=user)[:50]),
            "projects": list(project_list(user=user, workspace=workspace)[:100]),
            "recent": [presenters.generation_item(g, request) for g in recent],
            "page_data": {"options": options, "active": active, "shown": shown},
            "account": account,
        },
    )
