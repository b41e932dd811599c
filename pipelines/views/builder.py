"""The template builder: one page for a new template and for editing one of yours. The page's
script keeps the document and saves it through the templates API, which checks it whole; the
page only states the API's own rules (each operation's fields, limits and prices, what a
reference may feed), derived here from the job serializers and the template rules."""

from itertools import product

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from rest_framework import serializers
from rest_framework.fields import empty

from core.exceptions import NotFound
from pipelines import spec
from pipelines.models import GlobalInput, InputType, Step, Template
from pipelines.presenters import STEP_ICONS, template_item
from pipelines.services.templates import template_document, template_owned
from studio.apis.job_types import JOB_TYPES, JobType
from studio.services.generations import SEED_MAX, generation_cost
from tokens import catalog
from tokens.exceptions import UnknownOperation

# Words and pictures for people; the rules come from the serializers.
ICONS = STEP_ICONS
DESCRIPTIONS = {
    "generate-image": "A picture from a prompt, with a model and a look.",
    "generate-video": "A short MP4 clip from a prompt.",
}
LABELS = {
    "cfg_scale": "Guidance (CFG)",
    "num_images": "Images",
    "style_id": "Saved style",
    "style": "Style words",
    "category": "Look",
    "steps": "Sampling steps",
    "fps": "Frames per second",
    "duration": "Duration (s)",
    "references": "Reference images",
    "name": "Style name",
    "type": "Vector kind",
    "mode": "Colours",
}
INPUT_TYPE_LABELS = {
    "text": "Short text",
    "long_text": "Long text",
    "number": "Number",
    "choice": "Choice",
    "boolean": "Yes / no",
    "image": "Image",
    "seed": "Seed",
}
# Where a text parameter may mix references into its words (spec.steps: text only).
MIXABLE = ["text"]
# What inputs and steps produce, in the words of the template rules' messages.
PRODUCES = ("text", "number", "choice", "boolean", "image", "vector", "video", "style")
# A price-affecting whole-number field with more values than this is not tabulated.
PRICE_RANGE = 10


def _default(field: serializers.Field):
    default = field.default
    if default is empty or callable(default):
        return None
    return default


def _field(name: str, field: serializers.Field) -> dict:
    """One parameter as the form shows it: kind (what a reference must be), control, limits."""
    item = {
        "name": name,
        "label": LABELS.get(name) or field.label or name,
        "kind": spec.field_kind(name, field),
        "required": bool(field.required),
        "help": str(field.help_text or ""),
        "default": _default(field),
        "allowNull": bool(field.allow_null),
        "allowBlank": bool(getattr(field, "allow_blank", False)),
        "list": isinstance(field, serializers.ListField),
    }
    source = field.child if item["list"] else field
    if item["list"]:
        item["minItems"] = field.min_length
        item["maxItems"] = field.max_length
    if isinstance(source, serializers.ChoiceField):
        item["control"] = "choice"
        item["choices"] = [
            {"value": v, "label": str(label).replace("_", " ")}
            for v, label in source.choices.items()
        ]
    elif isinstance(source, serializers.BooleanField):
        item["control"] = "boolean"
    elif isinstance(source, serializers.IntegerField | serializers.FloatField):
        item["control"] = "number"
        item["integer"] = isinstance(source, serializers.IntegerField)
    else:
        item["control"] = "text"
    for key, attr in (
        ("min", "min_value"),
        ("max", "max_value"),
        ("minLength", "min_length"),
        ("maxLength", "max_length"),
    ):
        value = getattr(source, attr, None)
        if value is not None:
            item[key] = value
    return item


def _sample(field: dict):
    """A value a required parameter may take, to price an operation without running it."""
    if field["kind"] == "style":
        value = spec.PLACEHOLDER_STYLE
    elif field["kind"] == "image":
        value = spec.PLACEHOLDER_IMAGE
    elif field["control"] == "choice":
        value = field["choices"][0]["value"]
    elif field["control"] == "number":
        value = field.get("min", 1)
    else:
        value = "x" * max(field.get("minLength") or 1, 1)
    return [value] if field["list"] else value


def _pricing(job: JobType, fields: list[dict]) -> dict:
    """What the operation costs, by the fields that change its price (model, num_images…): the
    same catalog code that charges (generation_cost), tried over each field's values."""
    base = {f["name"]: _sample(f) for f in fields if f["required"]}

    def cost(params: dict) -> int | None:
        try:
            return generation_cost(job.kind, spec.job_spec(job, params, "price"))
        except (spec.DocumentInvalid, UnknownOperation):
            return None

    varying = []
    for field in fields:
        if field["list"] or field["kind"] in ("image", "style"):
            continue
        if field["control"] == "choice":
            values = [c["value"] for c in field["choices"]]
        elif field.get("integer") and "min" in field and "max" in field:
            if field["max"] - field["min"] > PRICE_RANGE:
                continue
            values = list(range(field["min"], field["max"] + 1))
        else:
            continue
        if len({cost({**base, field["name"]: v}) for v in values} - {None}) > 1:
            varying.append((field["name"], values))
    table = {}
    for combination in product(*(values for _, values in varying)):
        price = cost({**base, **dict(zip((n for n, _ in varying), combination, strict=True))})
        if price is not None:
            table["|".join(str(v) for v in combination)] = price
    prices = list(table.values()) or [0]
    return {
        "default": cost(base),
        "fields": [n for n, _ in varying],
        "table": table,
        "from": min(prices),
        "to": max(prices),
    }


def _description(job: JobType, fields: list[dict]) -> str:
    if job.name in DESCRIPTIONS:
        return DESCRIPTIONS[job.name]
    base = {f["name"]: _sample(f) for f in fields if f["required"]}
    operation = spec.job_spec(job, base, "description").get("operation")
    price = catalog.OPERATIONS.get(operation)
    return price.description if price else job.label


def operations_catalog() -> list[dict]:
    """Every operation a step may run, with its parameters (a template may not set the
    run-time ones) and its prices."""
    operations = []
    for job in JOB_TYPES.values():
        fields = [
            _field(name, field)
            for name, field in job.serializer().fields.items()
            if not field.read_only and name not in spec.RUN_TIME_PARAMS
        ]
        operations.append(
            {
                "name": job.name,
                "label": job.label,
                "icon": ICONS.get(job.name, "sparkles"),
                "produces": job.produces,
                "producesText": spec.described(job.produces),
                "needsImage": any(f["kind"] == "image" and f["required"] for f in fields),
                "description": _description(job, fields),
                "price": _pricing(job, fields),
                "fields": fields,
            }
        )
    return operations


def _max_length(model, name: str) -> int:
    return model._meta.get_field(name).max_length


def template_rules() -> dict:
    """The template rules the form states: input types, limits, what feeds what."""
    return {
        "inputTypes": [
            {"value": v, "label": INPUT_TYPE_LABELS.get(v, str(label))}
            for v, label in InputType.choices
        ],
        "textLimit": spec.TEXT_LIMIT,
        "seedMax": SEED_MAX,
        "maxInputs": spec.MAX_INPUTS,
        "maxSteps": spec.MAX_STEPS,
        "maxOptions": spec.MAX_OPTIONS,
        "maxTags": spec.MAX_TAGS,
        "maxText": spec.MAX_TEXT,
        "lengths": {
            "name": _max_length(Template, "name"),
            "description": spec.MAX_TEXT,
            "inputName": _max_length(GlobalInput, "name"),
            "label": _max_length(GlobalInput, "label"),
            "help": _max_length(GlobalInput, "help"),
            "stepName": _max_length(Step, "name"),
        },
        # A whole-value reference to something that produces X fits a parameter of kind K
        # when X is in accepts[K]; inputs produce by their type.
        "accepts": {kind: sorted(values) for kind, values in spec.ACCEPTS.items()},
        "inputProduces": spec.INPUT_PRODUCES,
        "mixable": MIXABLE,
        "described": {produces: spec.described(produces) for produces in PRODUCES},
    }


def _page(request: HttpRequest, template: Template | None) -> HttpResponse:
    if template is None:
        document = {
            "name": "",
            "description": "",
            "tags": [],
            "visibility": "private",
            "inputs": [],
            "steps": [],
        }
        shown = None
    else:
        document = {**template_document(template), "visibility": template.visibility}
        shown = template_item(template, request.user, request)
        shown["pipelines"] = template.pipelines.count()
    placeholder = "__id__"
    data = {
        "operations": operations_catalog(),
        "rules": template_rules(),
        "document": document,
        "template": shown,
        "urls": {
            "create": reverse("templates"),
            "import": reverse("templates-import"),
            "detail": reverse("template", args=[placeholder]),
            "export": reverse("template-export", args=[placeholder]),
            "page": reverse("template-page", args=[placeholder]),
            "edit": reverse("template-edit", args=[placeholder]),
            "gallery": reverse("templates-page"),
        },
        "placeholder": placeholder,
    }
    return render(
        request,
        "pipelines/builder.html",
        {"section": "templates", "template": shown, "builder_data": data},
    )


@login_required
def template_new(request: HttpRequest) -> HttpResponse:
    return _page(request, None)


@login_required
def template_edit(request: HttpRequest, template_id: str) -> HttpResponse:
    """Only the owner edits; anyone else's template (a starter has no owner) is a 404."""
    try:
        template = template_owned(user=request.user, template_id=template_id[:64])
    except NotFound:
        raise Http404("no such template") from None
    return _page(request, template)
