"""Running templates: one hold for the whole price, each step charged as it completes, a
failed step releasing the rest, retry from the failed step, cancel, idempotency, inputs
checked by type, and the version and inputs recorded."""

import pytest
from rest_framework.test import APIClient

from pipelines.models import Execution, ExecutionStep, StepStatus
from studio import storage
from studio.models import Asset, Generation, Status
from tests.conftest import assert_error, login
from tests.factories import UserFactory
from tests.fakes.servers import HF_TOKEN, http_error
from tests.pipelines.support import (
    BASE,
    balance,
    create,
    entries,
    execute,
    run_all,
    run_next,
    starter,
    two_steps,
)
from tests.studio.operations.support import shape_png, upload
from tokens.audit import ledger_audit
from tokens.models import Hold

pytestmark = pytest.mark.django_db(transaction=True)


def preview(api, template_id, inputs=None) -> dict:
    response = api.post(
        f"{BASE}/templates/{template_id}/cost", {"inputs": inputs or {}}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def detail(api, execution_id) -> dict:
    response = api.get(f"{BASE}/executions/{execution_id}")
    assert response.status_code == 200, response.content
    return response.json()


def test_logo_kit_runs_three_steps_to_an_svg_charged_exactly_the_preview(user_api, user):
    logo = starter("logo-kit")
    cost = preview(user_api, logo.pk, {"brand": "Acme"})
    assert cost == {
        "total": 12,
        "steps": [
            {"number": 1, "operation": "generate-image", "cost": 4},
            {"number": 2, "operation": "remove-background", "cost": 4},
            {"number": 3, "operation": "vectorize", "cost": 4},
        ],
    }
    assert balance(user) == (50, 0)  # the preview charges nothing
    response = execute(user_api, logo.pk, {"brand": "Acme"})
    assert response.status_code == 202, response.content
    started = response.json()
    assert started["id"].startswith("exe_") and started["status"] == "queued"
    assert balance(user) == (50, 12)  # ONE hold of the whole price
    assert Hold.objects.filter(account__user=user).count() == 1
    execution = run_all(started["id"])
    assert execution.status == "completed"
    body = detail(user_api, execution.pk)
    assert [s["status"] for s in body["steps"]] == ["completed"] * 3
    outputs = [s["output"] for s in body["steps"]]
    assert [o["type"] for o in outputs] == ["image", "image", "vector"]
    svg = storage.read(Asset.objects.get(pk=outputs[2]["id"]).key)
    assert svg.lstrip().startswith(b"<?xml") or b"<svg" in svg[:200]
    # Each step used the one before it.
    jobs = [Generation.objects.get(pk=s["job"]) for s in body["steps"]]
    assert jobs[1].source_asset_id == outputs[0]["id"]
    assert jobs[2].source_asset_id == outputs[1]["id"]
    assert all(job.hold_id is None and job.status == Status.COMPLETED for job in jobs)
    assert "Acme logo" in jobs[0].prompt
    assert body["credits"] == {"held": 12, "charged": 12, "released": 0, "outstanding": 0}
    assert body["costSoFar"] == 12 and body["progress"] == 100
    assert entries(user) == [("hold", 0, 12)] + [("capture", -4, -4)] * 3
    assert balance(user) == (38, 0)
    assert ledger_audit() == []


def test_insufficient_credits_refuses_before_anything_runs(api):
    poor = UserFactory(credits=10)
    client = login(api, poor)
    response = execute(client, starter("logo-kit").pk, {"brand": "Acme"})
    body = assert_error(response, 403, "INSUFFICIENT_CREDITS")
    assert body["details"]["required"] == 12 and body["details"]["available"] == 10
    assert not Execution.objects.filter(user=poor).exists()
    assert not Generation.objects.filter(user=poor).exists()
    assert balance(poor) == (10, 0) and entries(poor) == []


def test_an_idempotency_key_replays_the_same_execution(user_api, user):
    template = create(user_api, two_steps())
    first = execute(user_api, template["id"], {"subject": "a kite"}, HTTP_IDEMPOTENCY_KEY="run-1")
    again = execute(user_api, template["id"], {"subject": "a kite"}, HTTP_IDEMPOTENCY_KEY="run-1")
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert Execution.objects.filter(user=user).count() == 1 and balance(user) == (50, 8)
    other = execute(user_api, template["id"], {"subject": "a boat"}, HTTP_IDEMPOTENCY_KEY="run-1")
    assert_error(other, 409, "IDEMPOTENCY_CONFLICT")


@pytest.mark.parametrize(
    "inputs, field",
    [
        ({}, "inputs.count"),  # required
        ({"count": "two"}, "inputs.count"),
        ({"count": 9}, "inputs.count"),
        ({"count": 1.5}, "inputs.count"),
        ({"count": 2, "flat": "yes"}, "inputs.flat"),
        ({"count": 2, "look": "noir"}, "inputs.look"),
        ({"count": 2, "seed": -5}, "inputs.seed"),
        ({"count": 2, "colour": "red"}, "inputs.colour"),
        ({"count": 2, "subject": 42}, "inputs.subject"),
    ],
)
def test_inputs_are_checked_by_type_and_nothing_is_held(user_api, user, inputs, field):
    template = create(
        user_api,
        two_steps(
            inputs=[
                {"name": "subject", "type": "text", "default": "a kite"},
                {
                    "name": "count",
                    "type": "number",
                    "min": 1,
                    "max": 4,
                    "step": 1,
                    "required": True,
                },
                {"name": "flat", "type": "boolean", "default": False},
                {
                    "name": "look",
                    "type": "choice",
                    "options": ["anime", "sketch"],
                    "default": "anime",
                },
                {"name": "seed", "type": "seed"},
            ],
            steps=[
                {
                    "operation": "generate-image",
                    "params": {
                        "prompt": "{{inputs.subject}}",
                        "num_images": "{{inputs.count}}",
                        "category": "{{inputs.look}}",
                        "seed": "{{inputs.seed}}",
                    },
                }
            ],
        ),
    )
    response = execute(user_api, template["id"], inputs)
    assert_error(response, 400, "INVALID_REQUEST", field=field)
    assert balance(user) == (50, 0) and not Execution.objects.exists()


def test_the_cost_follows_the_inputs_that_price_the_steps(user_api):
    template = create(
        user_api,
        two_steps(
            inputs=[
                {"name": "count", "type": "number", "min": 1, "max": 4, "step": 1, "default": 1}
            ],
            steps=[
                {
                    "operation": "generate-image",
                    "params": {"prompt": "kites", "num_images": "{{inputs.count}}"},
                }
            ],
        ),
    )
    assert preview(user_api, template["id"])["total"] == 4
    assert preview(user_api, template["id"], {"count": 3})["total"] == 12


def test_the_execution_records_the_version_and_inputs_it_ran_with(user_api):
    template = create(
        user_api,
        two_steps(
            inputs=[
                {"name": "subject", "type": "text", "default": "a kite"},
                {"name": "seed", "type": "seed"},
            ],
            steps=[
                {
                    "operation": "generate-image",
                    "params": {"prompt": "{{inputs.subject}}", "seed": "{{inputs.seed}}"},
                }
            ],
        ),
    )
    started = execute(user_api, template["id"]).json()
    recorded = Execution.objects.get(pk=started["id"])
    assert recorded.template_version == 1
    assert recorded.inputs["subject"] == "a kite" and isinstance(recorded.inputs["seed"], int)
    user_api.patch(
        f"{BASE}/templates/{template['id']}",
        {"steps": [{"operation": "generate-vector", "params": {"prompt": "{{inputs.subject}}"}}]},
        format="json",
    )
    run_all(recorded.pk)
    body = detail(user_api, recorded.pk)
    assert body["template"]["version"] == 1 and body["steps"][0]["operation"] == "generate-image"
    job = Generation.objects.get(pk=body["steps"][0]["job"])
    assert job.seed == recorded.inputs["seed"]  # run again with these inputs: the same picture
    rerun = execute(user_api, template["id"], recorded.inputs).json()
    assert rerun["template"]["version"] == 2


@pytest.fixture
def failing_cutout(settings, fake_huggingface):
    """Background removal on a Hugging Face provider (the local fake) that is told to fail."""
    settings.HF_TOKEN = HF_TOKEN
    settings.HF_PROVIDER = "hf-inference"
    settings.HF_BASE_URL = fake_huggingface.url
    settings.HF_TIMEOUT = 2
    settings.OPERATION_PROVIDERS = {
        **settings.OPERATION_PROVIDERS,
        "background_removal": ["huggingface"],
    }
    return fake_huggingface


def test_a_failing_middle_step_releases_the_rest_and_retry_charges_only_the_rest(
    user_api, user, failing_cutout, settings
):
    logo = starter("logo-kit")
    started = execute(user_api, logo.pk, {"brand": "Acme"}).json()
    failing_cutout.fail_next(http_error(400, {"error": "model refused"}))
    execution = run_all(started["id"])
    assert execution.status == "failed"
    body = detail(user_api, execution.pk)
    assert [s["status"] for s in body["steps"]] == ["completed", "failed", "skipped"]
    assert body["steps"][1]["error"] and body["retry_possible"] is True
    assert body["credits"] == {"held": 12, "charged": 4, "released": 8, "outstanding": 0}
    assert balance(user) == (46, 0)
    assert ledger_audit() == []
    step_one = body["steps"][0]
    # The studio's own retry would charge a new job: a step is retried through its execution.
    assert_error(
        user_api.post(f"{BASE}/studio/generation/{body['steps'][1]['job']}/retry"),
        409,
        "GENERATION_IN_PROGRESS",
    )

    assert failing_cutout.pending_faults == 0
    # The instant provider's tiny pictures have no subject for a real segmenter: the retry
    # cuts out with the local one.
    settings.OPERATION_PROVIDERS = {**settings.OPERATION_PROVIDERS, "background_removal": ["local"]}
    response = user_api.post(f"{BASE}/executions/{execution.pk}/retry")
    assert response.status_code == 202, response.content
    assert balance(user) == (46, 8)  # a new hold for steps 2 and 3 only
    retried = run_all(execution.pk)
    assert retried.status == "completed" and retried.attempt == 2
    body = detail(user_api, execution.pk)
    assert body["steps"][0]["job"] == step_one["job"]  # step 1 reused, not run again
    assert body["steps"][0]["output"]["id"] == step_one["output"]["id"]
    assert [s["status"] for s in body["steps"]] == ["completed"] * 3
    assert (
        Generation.objects.get(pk=body["steps"][1]["job"]).source_asset_id
        == step_one["output"]["id"]
    )
    assert body["credits"]["charged"] == 12 and body["credits"]["outstanding"] == 0
    assert balance(user) == (38, 0)  # 12 in all: exactly the preview
    assert ledger_audit() == []
    assert_error(
        user_api.post(f"{BASE}/executions/{execution.pk}/retry"), 409, "EXECUTION_IN_PROGRESS"
    )


def test_cancel_stops_at_the_running_step_and_releases_the_rest(user_api, user):
    logo = starter("logo-kit")
    started = execute(user_api, logo.pk, {"brand": "Acme"}).json()
    run_next(started["id"])  # step 1 done, step 2 queued
    response = user_api.post(f"{BASE}/executions/{started['id']}/cancel")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled"
    assert [s["status"] for s in body["steps"]] == ["completed", "cancelled", "skipped"]
    assert Generation.objects.get(pk=body["steps"][1]["job"]).status == Status.CANCELLED
    assert run_next(started["id"]) is None  # nothing left to run
    assert body["credits"] == {"held": 12, "charged": 4, "released": 8, "outstanding": 0}
    assert balance(user) == (46, 0) and ledger_audit() == []
    assert_error(
        user_api.post(f"{BASE}/executions/{started['id']}/cancel"), 409, "EXECUTION_NOT_ACTIVE"
    )


def test_cancelling_the_steps_job_in_the_studio_cancels_the_execution(user_api, user):
    started = execute(user_api, starter("sticker").pk).json()
    job = started["steps"][0]["job"]
    assert user_api.post(f"{BASE}/studio/generation/{job}/cancel").status_code == 200
    execution = Execution.objects.get(pk=started["id"])
    assert execution.status == "cancelled"
    assert balance(user) == (50, 0) and ledger_audit() == []


def test_an_image_input_must_be_yours_and_fit_the_step(user_api, user):
    moodboard = starter("brand-moodboard")
    theirs = upload(UserFactory())
    assert_error(execute(user_api, moodboard.pk, {"reference": theirs.pk}), 404, "NOT_FOUND")
    assert_error(
        execute(user_api, moodboard.pk, {}), 400, "INVALID_REQUEST", field="inputs.reference"
    )
    assert balance(user) == (50, 0) and not Execution.objects.exists()


def test_brand_moodboard_reads_a_style_then_makes_four_pictures_in_it(api):
    rich = UserFactory(credits=100)
    client = login(api, rich)
    reference = upload(rich, shape_png(96, 64))
    moodboard = starter("brand-moodboard")
    assert preview(client, moodboard.pk)["total"] == 4 + 4 * 4
    started = execute(client, moodboard.pk, {"reference": reference.pk, "brand": "Acme"}).json()
    execution = run_all(started["id"])
    assert execution.status == "completed", execution.error
    steps = list(ExecutionStep.objects.filter(execution=execution))
    assert steps[0].output.startswith("sty_")
    pictures = Generation.objects.get(pk=steps[1].generation_id)
    assert pictures.style_ref_id == steps[0].output and len(pictures.outputs) == 4
    assert balance(rich) == (80, 0) and ledger_audit() == []


def test_a_step_that_cannot_start_fails_the_execution_and_releases_the_rest(
    user_api, user, settings
):
    started = execute(user_api, starter("poster").pk).json()
    settings.UPLOAD_MAX_PIXELS = 10  # the picture step 1 makes is too large to upscale now
    execution = run_all(started["id"])
    assert execution.status == "failed" and "could not start" in execution.error
    steps = list(execution.steps.all())
    assert [s.status for s in steps] == [StepStatus.COMPLETED, StepStatus.FAILED]
    assert balance(user) == (46, 0) and ledger_audit() == []


def test_someone_elses_execution_is_404(user_api):
    started = execute(user_api, starter("sticker").pk).json()
    stranger = login(APIClient(), UserFactory())
    for path in ("", "/cancel", "/retry"):
        method = stranger.get if not path else stranger.post
        assert_error(method(f"{BASE}/executions/{started['id']}{path}"), 404, "NOT_FOUND")


def test_users_executions_and_usage(user_api, user):
    sticker = starter("sticker")
    first = execute(user_api, sticker.pk).json()
    run_all(first["id"])
    execute(user_api, sticker.pk)
    listing = user_api.get(f"{BASE}/users/executions").json()
    assert [e["id"] for e in listing["executions"]][1] == first["id"]
    assert listing["pagination"]["total"] == 2
    assert (
        user_api.get(f"{BASE}/users/executions", {"status": "completed"}).json()["pagination"][
            "total"
        ]
        == 1
    )
    usage = user_api.get(f"{BASE}/users/usage").json()
    assert usage["period"]["days"] == 30 and len(usage["byDay"]) == 30
    assert usage["totals"] == {"generations": 2, "operations": 1, "executions": 2, "credits": 8}
    assert usage["byDay"][-1]["executions"] == 2 and usage["byDay"][-1]["credits"] == 8
    operations = {row["operation"]: row["count"] for row in usage["byOperation"]}
    assert operations == {"image_generation:flux-pro": 1, "background_removal": 1}
    assert usage["templates"] == [{"template": sticker.pk, "name": "Sticker", "runs": 2}]
    sticker.refresh_from_db()
    assert sticker.runs == 2


def test_an_expired_hold_stops_the_run_without_charging_more_and_retry_goes_on(user_api, user):
    from datetime import timedelta

    from django.utils import timezone

    from tokens.services import holds_release_expired

    started = execute(user_api, starter("logo-kit").pk, {"brand": "Acme"}).json()
    run_next(started["id"])  # step 1 charged 4
    assert holds_release_expired(now=timezone.now() + timedelta(days=365)) == 1
    assert balance(user) == (46, 0)  # the 8 not yet charged came back
    execution = run_all(started["id"])
    assert execution.status == "failed" and "expired" in execution.error
    assert [s.status for s in execution.steps.all()] == ["completed", "completed", "failed"]
    assert [s.charged for s in execution.steps.all()] == [4, 0, 0]
    assert ledger_audit() == []
    assert user_api.post(f"{BASE}/executions/{execution.pk}/retry").status_code == 202
    assert balance(user) == (46, 4)  # only step 3 is held again
    assert run_all(execution.pk).status == "completed"
    assert balance(user) == (42, 0) and ledger_audit() == []
