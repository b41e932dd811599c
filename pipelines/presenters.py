"""Templates and executions as the API and the pages show them."""

from core.serializers import iso
from pipelines.models import EXECUTION_ACTIVE, Execution, ExecutionStatus, StepStatus, Template
from pipelines.selectors import execution_credits
from pipelines.services.executions import retry_cost
from pipelines.services.templates import input_as_dict, step_as_dict
from studio.apis.job_types import JOB_TYPES
from studio.labels import NEXT_STEPS
from studio.models import Asset, Style
from studio.presenters import media_url

# The icon of each step's operation, on every page that shows steps.
STEP_ICONS = {
    "generate-image": "image",
    "generate-video": "video",
    "generate-vector": "pen-tool",
    "style": "palette",
    **{step.path: step.icon for step in NEXT_STEPS},
}


def template_item(template: Template, user=None, request=None) -> dict:
    """An entry of the template list."""
    item = {
        "id": template.pk,
        "name": template.name,
        "description": template.description,
        "tags": list(template.tags),
        "visibility": template.visibility,
        "owner": _owner(template),
        "mine": user is not None and template.owner_id == getattr(user, "pk", None),
        "starter": bool(template.starter),
        "featured": template.featured,
        "version": template.version,
        "runs": template.runs,
        "rating": {"average": template.rating, "count": template.rating_count},
        "cover": _cover(template, request),
        "createdAt": iso(template.created_at),
        "updatedAt": iso(template.updated_at),
    }
    if item["mine"] and template.unpublished_reason:  # only its owner is told why
        item["unpublishedReason"] = template.unpublished_reason
    return item


def _owner(template: Template) -> dict | None:
    if template.owner_id is None:
        return {"name": "CraftFrame"}
    owner = template.owner
    return {"name": owner.name or owner.email.split("@")[0]}


def _cover(template: Template, request) -> dict | None:
    cover = template.cover
    if cover is None:
        return None
    return {
        "id": cover.pk,
        "url": media_url(cover.key, request),
        "thumbnail_url": media_url(cover.thumbnail_key or cover.key, request),
    }


def template_detail(template: Template, user=None, request=None, rating: int | None = None):
    pipelines = list(template.pipelines.all())
    first = pipelines[0] if pipelines else None
    body = template_item(template, user, request)
    body.update(
        inputs=[input_as_dict(i) for i in template.inputs.all()],
        steps=[
            _step(number, step_as_dict(s))
            for number, s in enumerate(first.steps.all() if first else [], start=1)
        ],
        pipelines=[{"id": p.pk, "name": p.name} for p in pipelines],
        myRating=rating,
    )
    return body


def _step(number: int, step: dict) -> dict:
    job = JOB_TYPES.get(step["operation"])
    return {
        "number": number,
        **step,
        "label": job.label if job else step["operation"],
        "produces": job.produces if job else None,
    }


def pipeline_detail(pipeline) -> dict:
    return {
        "id": pipeline.pk,
        "template": pipeline.template_id,
        "name": pipeline.name,
        "position": pipeline.position,
        "steps": [_step(n, step_as_dict(s)) for n, s in enumerate(pipeline.steps.all(), 1)],
        "createdAt": iso(pipeline.created_at),
        "updatedAt": iso(pipeline.updated_at),
    }


def plan_body(plan) -> dict:
    return {
        "total": plan.total,
        "steps": [
            {"number": n, "operation": s.operation, "cost": s.cost}
            for n, s in enumerate(plan.steps, start=1)
        ],
    }


def _outputs(steps: list) -> dict[str, object]:
    """The steps' results (assets and styles), read in two queries for all of them."""
    ids = [s.output for s in steps if s.output]
    found: dict[str, object] = {a.pk: a for a in Asset.objects.filter(pk__in=ids)}
    found.update({st.pk: st for st in Style.objects.filter(pk__in=ids)})
    return found


def _output(step, found: dict, request) -> dict | None:
    if not step.output:
        return None
    item = found.get(step.output)
    if isinstance(item, Style):
        return {"id": step.output, "type": "style", "name": item.name}
    if item is None:
        return {"id": step.output, "type": "deleted"}
    asset = item
    if asset.content_type == "video/mp4":
        kind = "video"
    elif asset.content_type == "image/svg+xml":
        kind = "vector"
    else:
        kind = "image"
    return {
        "id": asset.pk,
        "type": kind,
        "content_type": asset.content_type,
        "url": media_url(asset.key, request),
        "thumbnail_url": media_url(asset.thumbnail_key or asset.key, request),
        "width": asset.width,
        "height": asset.height,
    }


def _step_status(step) -> tuple[str, int]:
    generation = step.generation
    if step.status in (StepStatus.QUEUED, StepStatus.RUNNING) and generation is not None:
        if generation.status == "generating":
            return StepStatus.RUNNING, generation.progress
        return StepStatus.QUEUED, 0
    return step.status, 100 if step.status == StepStatus.COMPLETED else 0


def execution_detail(execution: Execution, request=None) -> dict:
    """GET /executions/<id>."""
    steps = list(execution.steps.select_related("generation"))
    found = _outputs(steps)
    shown = []
    for step in steps:
        status, progress = _step_status(step)
        shown.append(
            {
                "number": step.position + 1,
                "operation": step.operation,
                "name": step.name or JOB_TYPES[step.operation].label,
                "status": status,
                "progress": progress,
                "cost": step.cost,
                "charged": step.charged,
                "job": step.generation_id,
                "output": _output(step, found, request),
                "error": step.error or None,
            }
        )
    status = shown_status(
        execution.status, any(s["status"] in ("running", "completed") for s in shown)
    )
    credits = execution_credits(execution)
    return {
        "id": execution.pk,
        "template": {
            "id": execution.template_id,
            "name": execution.snapshot.get("name", ""),
            "version": execution.template_version,
        },
        "status": status,
        "currentStep": execution.current_step + 1,
        "progress": _overall(shown),
        "inputs": execution.inputs,
        "steps": shown,
        "cost": execution.cost,
        "costSoFar": credits["charged"],
        "credits": credits,
        "attempt": execution.attempt,
        "error": execution.error or None,
        "retry_possible": status in ("failed", "cancelled"),
        "retryCost": retry_cost(steps) if status in ("failed", "cancelled") else None,
        "createdAt": iso(execution.created_at),
        "finishedAt": iso(execution.finished_at)
        if execution.status not in EXECUTION_ACTIVE
        else None,
    }


def shown_status(status: str, started: bool) -> str:
    """A queued run whose first step a worker has taken is running (the row says queued
    until the step finishes: the claim belongs to the studio job)."""
    return ExecutionStatus.RUNNING if status == ExecutionStatus.QUEUED and started else status


def _overall(steps: list[dict]) -> int:
    if not steps:
        return 0
    return round(sum(s["progress"] for s in steps) / len(steps))


def execution_item(execution: Execution) -> dict:
    return {
        "id": execution.pk,
        "template": {"id": execution.template_id, "name": execution.snapshot.get("name", "")},
        "status": shown_status(execution.status, getattr(execution, "started", False)),
        "currentStep": execution.current_step + 1,
        "steps": len(execution.snapshot.get("steps", [])),
        "cost": execution.cost,
        "createdAt": iso(execution.created_at),
        "finishedAt": iso(execution.finished_at),
    }


def execution_log(execution: Execution, lines: list[dict]) -> dict:
    """GET /executions/<id>/logs: the run's story (pipelines.selectors.execution_log)."""
    return {
        "id": execution.id,
        "status": execution.status,
        "entries": [{**line, "at": iso(line["at"])} for line in lines],
    }
