"""Writing templates, their pipelines and ratings. Every save checks the whole document first
(pipelines.spec), then writes it in one transaction: a template is never saved half."""

from django.db import transaction
from django.db.models import F, Q

from core.exceptions import Conflict, DomainError, NotFound
from pipelines import spec
from pipelines.models import GlobalInput, Pipeline, Rating, Step, Template, Visibility, new_id
from studio.models import Asset


class NotYourTemplate(NotFound):
    """Only its owner changes a template; to anyone else a private one does not exist, and
    a public one is read-only (still a 404 for writes: nothing to confirm)."""

    message = "Template not found"


class OwnTemplateRating(DomainError):
    code = "INVALID_REQUEST"
    message = "You cannot rate your own template"


class TemplateUnpublished(Conflict):
    message = "Support made this template private"


class LastPipeline(Conflict):
    code = "CONFLICT"
    message = "A template keeps at least one pipeline"


def template_visible(*, user, template_id: str) -> Template:
    """A template the user may see (public, or theirs); anything else is a 404."""
    mine = Q(owner=user) if user is not None and user.is_authenticated else Q(pk__in=[])
    template = (
        Template.objects.filter(Q(visibility=Visibility.PUBLIC) | mine, pk=template_id)
        .select_related("owner", "cover")
        .first()
    )
    if template is None:
        raise NotFound("Template not found", id=str(template_id)[:64])
    return template


def template_owned(*, user, template_id: str) -> Template:
    template = Template.objects.filter(pk=template_id, owner=user).first()
    if template is None:
        raise NotYourTemplate("Template not found", id=str(template_id)[:64])
    return template


def template_document(template: Template, pipeline: Pipeline | None = None) -> dict:
    """The template as a self-contained document (no owner, no ids): what export writes and
    what an execution records."""
    pipeline = pipeline or template.pipelines.first()
    return {
        "format": spec.EXPORT_FORMAT,
        "version": spec.EXPORT_VERSION,
        "name": template.name,
        "description": template.description,
        "tags": list(template.tags),
        "inputs": [input_as_dict(i) for i in template.inputs.all()],
        "steps": [step_as_dict(s) for s in pipeline.steps.all()] if pipeline else [],
    }


def input_as_dict(item: GlobalInput) -> dict:
    return {
        "name": item.name,
        "label": item.label,
        "type": item.type,
        "required": item.required,
        "default": item.default,
        "help": item.help,
        "options": list(item.options),
        "min": item.min,
        "max": item.max,
        "step": item.step,
    }


def step_as_dict(step: Step) -> dict:
    return {"operation": step.operation, "name": step.name, "params": step.params}


def _cover(user, cover_id: str | None) -> Asset | None:
    if not cover_id:
        return None
    asset = Asset.objects.filter(pk=cover_id, user=user).first()
    if asset is None:
        raise spec.DocumentInvalid({"cover": ["No image of yours has this id."]})
    if not asset.content_type.startswith("image/"):
        raise spec.DocumentInvalid({"cover": ["The cover must be an image."]})
    return asset


def _write_inputs(template: Template, inputs: list[dict]) -> None:
    template.inputs.all().delete()
    GlobalInput.objects.bulk_create(
        GlobalInput(template=template, position=position, **definition)
        for position, definition in enumerate(inputs)
    )


def _write_steps(pipeline: Pipeline, steps: list[dict]) -> None:
    pipeline.steps.all().delete()
    Step.objects.bulk_create(
        Step(pipeline=pipeline, position=position, **step) for position, step in enumerate(steps)
    )


def _tag_index(tags: list[str]) -> str:
    return f",{','.join(tags)}," if tags else ""


def template_create(*, owner, document: dict, starter: str = "") -> Template:
    """A new template with its inputs and its first pipeline, from a raw document."""
    checked = spec.document_check(document)
    cover = _cover(owner, checked.get("cover"))
    with transaction.atomic():
        template = Template(
            id=new_id("tpl"),
            owner=owner,
            name=checked["name"],
            description=checked["description"],
            tags=checked["tags"],
            tag_index=_tag_index(checked["tags"]),
            visibility=checked["visibility"],
            cover=cover,
            starter=starter,
        )
        template.full_clean()
        template.save(force_insert=True)
        _write_inputs(template, checked["inputs"])
        pipeline = Pipeline.objects.create(id=new_id("pip"), template=template, name="Main")
        _write_steps(pipeline, checked["steps"])
    return template


def template_update(*, user, template_id: str, document: dict) -> Template:
    """Change what the document names; steps are the first pipeline's. The version goes up."""
    spec.document_shape_check(document, partial=True, metadata=True)
    template = template_owned(user=user, template_id=template_id)
    pipeline = template.pipelines.first()
    current = {
        "inputs": [input_as_dict(i) for i in template.inputs.all()],
        "steps": [step_as_dict(s) for s in pipeline.steps.all()] if pipeline else [],
    }
    checked = spec.document_check(document, partial=True, current=current)
    if "inputs" in checked:
        _other_pipelines_check(template, pipeline, checked["inputs"])
    with transaction.atomic():
        locked = Template.objects.select_for_update().get(pk=template.pk)
        if checked.get("visibility") == Visibility.PUBLIC and locked.unpublished_reason:
            raise TemplateUnpublished(
                f"Support made this template private: {locked.unpublished_reason} Write to "
                "support to publish it again.",
                field="visibility",
            )
        for field in ("name", "description", "visibility"):
            if field in checked:
                setattr(locked, field, checked[field])
        if "tags" in checked:
            locked.tags, locked.tag_index = checked["tags"], _tag_index(checked["tags"])
        if "cover" in checked:
            locked.cover = _cover(user, checked["cover"])
        locked.version = F("version") + 1
        locked.save()
        if "inputs" in checked:
            _write_inputs(locked, checked["inputs"])
        if "steps" in checked:
            if pipeline is None:
                pipeline = Pipeline.objects.create(id=new_id("pip"), template=locked)
            _write_steps(pipeline, checked["steps"])
    locked.refresh_from_db()
    return locked


def _other_pipelines_check(template: Template, first: Pipeline | None, inputs: list[dict]):
    """New inputs must still suit every pipeline of the template (a removed input may be in
    use by one)."""
    for pipeline in template.pipelines.exclude(pk=first.pk if first else None):
        problems = spec.Problems()
        spec.steps_check([step_as_dict(s) for s in pipeline.steps.all()], inputs, problems)
        if problems.errors:
            raise spec.DocumentInvalid(
                {f"pipelines.{pipeline.pk}.{k}": v for k, v in problems.errors.items()}
            )


def template_delete(*, user, template_id: str) -> None:
    """Past executions keep their record (they hold a snapshot), the template goes."""
    template = template_owned(user=user, template_id=template_id)
    template.delete()


def template_import(*, owner, document) -> Template:
    """A template from an exported document; checked like any save. Always private at
    first: the importer decides whether to share it."""
    if not isinstance(document, dict):
        raise spec.DocumentInvalid({"non_field_errors": ["Must be a JSON object."]})
    if (
        not isinstance(document.get("format", ""), str)
        or document.get("format", spec.EXPORT_FORMAT) != spec.EXPORT_FORMAT
    ):
        raise spec.DocumentInvalid({"format": [f"Must be {spec.EXPORT_FORMAT!r}."]})
    if document.get("version", spec.EXPORT_VERSION) != spec.EXPORT_VERSION:
        raise spec.DocumentInvalid({"version": [f"Only version {spec.EXPORT_VERSION} is known."]})
    body = {k: v for k, v in document.items() if k not in ("format", "version")}
    body["visibility"] = "private"
    return template_create(owner=owner, document=body)


# --- Pipelines ---------------------------------------------------------------------------


def pipeline_create(*, user, template_id: str, name: str, steps) -> Pipeline:
    template = template_owned(user=user, template_id=template_id)
    checked = _steps_for(template, steps)
    with transaction.atomic():
        position = template.pipelines.count()
        pipeline = Pipeline.objects.create(
            id=new_id("pip"), template=template, name=name or "Pipeline", position=position
        )
        _write_steps(pipeline, checked)
        Template.objects.filter(pk=template.pk).update(version=F("version") + 1)
    return pipeline


def _steps_for(template: Template, steps) -> list[dict]:
    problems = spec.Problems()
    checked = spec.steps_check(steps, [input_as_dict(i) for i in template.inputs.all()], problems)
    problems.raise_if_any()
    return checked


def pipeline_owned(*, user, pipeline_id: str) -> Pipeline:
    pipeline = (
        Pipeline.objects.filter(pk=pipeline_id, template__owner=user)
        .select_related("template")
        .first()
    )
    if pipeline is None:
        raise NotFound("Pipeline not found", id=str(pipeline_id)[:64])
    return pipeline


def pipeline_update(*, user, pipeline_id: str, name: str | None = None, steps=None) -> Pipeline:
    pipeline = pipeline_owned(user=user, pipeline_id=pipeline_id)
    checked = _steps_for(pipeline.template, steps) if steps is not None else None
    with transaction.atomic():
        if name is not None:
            pipeline.name = name
            pipeline.save(update_fields=["name", "updated_at"])
        if checked is not None:
            _write_steps(pipeline, checked)
        Template.objects.filter(pk=pipeline.template_id).update(version=F("version") + 1)
    return pipeline


def pipeline_delete(*, user, pipeline_id: str) -> None:
    pipeline = pipeline_owned(user=user, pipeline_id=pipeline_id)
    with transaction.atomic():
        if Pipeline.objects.filter(template_id=pipeline.template_id).count() <= 1:
            raise LastPipeline(
                "A template keeps at least one pipeline; delete the template instead"
            )
        pipeline.delete()
        Template.objects.filter(pk=pipeline.template_id).update(version=F("version") + 1)


# --- Ratings -----------------------------------------------------------------------------


def template_rate(*, user, template_id: str, score: int) -> Template:
    """Rate 1-5, once per person (rating again changes it); not your own template."""
    template = template_visible(user=user, template_id=template_id)
    if template.owner_id == user.pk:
        raise OwnTemplateRating("You cannot rate your own template", template=template.pk)
    with transaction.atomic():
        # Lock the template: the count and sum move with the rating, never read-modify-write.
        Template.objects.select_for_update().filter(pk=template.pk).first()
        previous = Rating.objects.filter(template=template, user=user).first()
        if previous is None:
            Rating.objects.create(template=template, user=user, score=score)
            Template.objects.filter(pk=template.pk).update(
                rating_count=F("rating_count") + 1, rating_sum=F("rating_sum") + score
            )
        elif previous.score != score:
            Template.objects.filter(pk=template.pk).update(
                rating_sum=F("rating_sum") + score - previous.score
            )
            previous.score = score
            previous.save(update_fields=["score", "updated_at"])
    template.refresh_from_db()
    return template
