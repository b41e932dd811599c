"""Templates, runs and ledger checks shared by the pipeline tests."""

from pipelines.models import Execution, ExecutionStep, StepStatus, Template
from studio.models import Generation
from studio.services.execution import generation_run
from tests.studio.operations.support import balance, entries

BASE = "/api/v1"


def two_steps(**overrides) -> dict:
    """A small template: draw from a prompt input, then cut the background out."""
    document = {
        "name": "Cut-out",
        "description": "Draw, then cut out",
        "tags": ["test"],
        "visibility": "public",
        "inputs": [
            {"name": "subject", "type": "text", "required": True, "default": "a red kite"},
        ],
        "steps": [
            {"operation": "generate-image", "params": {"prompt": "{{inputs.subject}}, flat"}},
            {"operation": "remove-background", "params": {"source": "{{steps.1.output}}"}},
        ],
    }
    document.update(overrides)
    return document


def create(api, document: dict) -> dict:
    response = api.post(f"{BASE}/templates", document, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def execute(api, template_id: str, inputs: dict | None = None, **headers):
    return api.post(
        f"{BASE}/templates/{template_id}/execute",
        {"inputs": inputs or {}},
        format="json",
        **headers,
    )


def queued_job(execution_id: str) -> str | None:
    step = (
        ExecutionStep.objects.filter(
            execution_id=execution_id, status__in=[StepStatus.QUEUED, StepStatus.RUNNING]
        )
        .order_by("position")
        .first()
    )
    return step.generation_id if step else None


def run_next(execution_id: str) -> Generation | None:
    """Do what a worker would with the execution's next message: run its queued step."""
    job = queued_job(execution_id)
    if job is None:
        return None
    generation_run(generation_id=job)
    return Generation.objects.get(pk=job)


def run_all(execution_id: str) -> Execution:
    """Run step after step, as the chained messages would, until nothing is queued."""
    for _ in range(20):
        if run_next(execution_id) is None:
            break
    return Execution.objects.get(pk=execution_id)


def starter(key: str) -> Template:
    return Template.objects.get(starter=key)


__all__ = ["balance", "entries"]  # the ledger checks of the operation tests
