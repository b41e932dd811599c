"""Pricing a template run: what each step would cost, from the same catalog code that
charges (studio.services.generations.generation_cost), with the seeds drawn for a real run."""

import random
from dataclasses import dataclass

from core.exceptions import NotFound
from pipelines import spec
from pipelines.models import Pipeline, Template
from pipelines.services.templates import input_as_dict, step_as_dict, template_visible
from studio.apis.job_types import JOB_TYPES
from studio.services.generations import SEED_MAX, generation_cost


@dataclass
class PlannedStep:
    operation: str
    name: str
    params: dict
    cost: int


@dataclass
class Plan:
    inputs: dict
    steps: list[PlannedStep]
    document: dict

    @property
    def total(self) -> int:
        return sum(step.cost for step in self.steps)


def pipeline_of(template: Template, pipeline_id: str | None) -> Pipeline:
    pipelines = template.pipelines.all()
    pipeline = pipelines.filter(pk=pipeline_id).first() if pipeline_id else pipelines.first()
    if pipeline is None:
        raise NotFound("Pipeline not found", pipeline=str(pipeline_id or "")[:64])
    return pipeline


def execution_plan(*, template: Template, pipeline: Pipeline, inputs, partial: bool) -> Plan:
    """What a run with these inputs would do and cost; the cost comes from the same catalog
    code that charges (studio.services.generations.generation_cost)."""
    definitions = [input_as_dict(i) for i in template.inputs.all()]
    steps = [step_as_dict(s) for s in pipeline.steps.all()]
    resolved = spec.inputs_resolve(definitions, inputs, partial=partial)
    values = dict(resolved)
    scope = spec.Scope(definitions, [JOB_TYPES.get(s["operation"]) for s in steps])
    for definition in definitions:
        name = definition["name"]
        if name in values:
            continue
        if definition["type"] == "seed" and not partial:
            values[name] = resolved[name] = random.SystemRandom().randint(0, SEED_MAX)
        elif partial:  # the preview: a stand-in for what is not filled in yet
            values[name] = scope.samples(spec.Ref("inputs", name, "text"))[0]
    placeholders = spec.placeholder_outputs(steps)
    planned = []
    for number, step in enumerate(steps, start=1):
        job = JOB_TYPES[step["operation"]]
        params = dict(step["params"])
        if "seed" in job.serializer().fields and "seed" not in params and not partial:
            # Drawn now and recorded: running the execution again gives the same pictures.
            params["seed"] = random.SystemRandom().randint(0, SEED_MAX)
        job_spec = spec.job_spec(
            job, spec.params_resolve(params, values, placeholders), f"steps.{number}"
        )
        planned.append(
            PlannedStep(
                step["operation"], step["name"], params, generation_cost(job.kind, job_spec)
            )
        )
    return Plan(inputs=resolved, steps=planned, document=None)


def template_cost(*, user, template_id: str, inputs, pipeline_id: str | None = None) -> Plan:
    template = template_visible(user=user, template_id=template_id)
    pipeline = pipeline_of(template, pipeline_id)
    return execution_plan(template=template, pipeline=pipeline, inputs=inputs, partial=True)
