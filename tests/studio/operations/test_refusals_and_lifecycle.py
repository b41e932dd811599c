"""What an operation refuses before anything is charged, and the generation lifecycle (fail
and refund, cancel, retry, history, projects, webhooks, idempotency) applied to operations."""

import pytest

from studio import storage
from studio.models import Asset, Generation, Status, WebhookDelivery
from tests.conftest import login
from tests.factories import UserFactory
from tests.studio.operations.support import (
    balance,
    entries,
    run,
    shape_png,
    status_of,
    submit,
    upload,
)
from tokens.models import EntryKind

pytestmark = pytest.mark.django_db(transaction=True)


def test_someone_elses_source_is_404_and_charges_nothing(user_api, user):
    theirs = upload(UserFactory())
    for path in ("vectorize", "remove-background", "upscale"):
        response = submit(user_api, path, source=theirs.id)
        assert response.status_code == 404, response.content
        assert response.json()["code"] == "NOT_FOUND"
    response = submit(user_api, "styles", name="Stolen", references=[theirs.id])
    assert response.status_code == 404
    assert balance(user) == (50, 0)
    assert not Generation.objects.filter(user=user).exists()


def test_a_source_that_is_not_completed_is_409(user_api, user):
    queued = user_api.post(
        "/api/v1/studio/generate-image", {"prompt": "A red kite"}, format="json"
    ).json()["id"]
    response = submit(user_api, "vectorize", source=queued)
    assert response.status_code == 409
    assert response.json()["code"] == "GENERATION_NOT_COMPLETED"
    assert balance(user) == (50, 4)  # only the generation's own hold


def test_an_upscale_beyond_the_pixel_limit_is_refused_up_front(user_api, user, settings):
    source = upload(user, shape_png(100, 100))
    settings.UPLOAD_MAX_PIXELS = 100 * 100 * 4
    assert submit(user_api, "upscale", source=source.id, scale=2).status_code == 202
    response = submit(user_api, "upscale", source=source.id, scale=4)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "INVALID_REQUEST" and "scale" in body["details"]
    assert balance(user) == (50, 4)


def test_an_svg_is_not_a_source_for_raster_operations(user_api, user):
    traced = run(submit(user_api, "vectorize", source=upload(user).id).json()["id"])
    svg_asset = Asset.objects.get(generation=traced)
    response = submit(user_api, "upscale", source=svg_asset.id)
    assert response.status_code == 400
    assert "source" in response.json()["details"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("vectorize", {}, "source"),
        ("vectorize", {"source": "ast_x", "mode": "sepia"}, "mode"),
        ("vectorize", {"source": "ast_x", "detail": "ultra"}, "detail"),
        ("upscale", {"source": "ast_x", "scale": 3}, "scale"),
        ("upscale", {"source": ["ast_x"]}, "source"),
        ("generative-upscale", {"source": "ast_x", "prompt": "p" * 501}, "prompt"),
        ("styles", {"name": "x", "references": []}, "references"),
        ("styles", {"name": "x", "references": ["ast_x"] * 11}, "references"),
        ("styles", {"references": ["ast_x"]}, "name"),
        ("generate-vector", {"prompt": "A fox", "type": "vector_photo"}, "type"),
    ],
)
def test_bad_options_are_400_naming_the_field(user_api, user, path, body, field):
    response = submit(user_api, path, **body)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "INVALID_REQUEST"
    assert field in response.json()["details"]
    assert balance(user) == (50, 0)


def test_not_enough_credits_names_the_operation(api):
    user = UserFactory(credits=3)
    client = login(api, user)
    response = submit(client, "vectorize", source=upload(user).id)
    assert response.status_code == 403
    assert response.json()["details"] == {
        "required": 4,
        "available": 3,
        "operation": "vectorization",
    }


def test_a_source_deleted_before_the_job_runs_fails_it_and_refunds(user_api, user):
    source = upload(user)
    job_id = submit(user_api, "vectorize", source=source.id).json()["id"]
    assert user_api.delete(f"/api/v1/assets/{source.id}").status_code == 200
    job = run(job_id)
    assert job.status == Status.FAILED and "deleted" in job.error
    assert balance(user) == (50, 0)
    assert entries(user) == [(EntryKind.HOLD, 0, 4), (EntryKind.RELEASE, 0, -4)]


def test_an_unreadable_result_fails_and_refunds(user_api, user, settings):
    # A source that is fine as a file but too big for the operation's own checks.
    source = upload(user, shape_png(100, 100))
    job_id = submit(user_api, "upscale", source=source.id, scale=4).json()["id"]
    settings.UPLOAD_MAX_PIXELS = 100 * 100 * 4  # lowered after submission: the worker refuses
    job = run(job_id)
    assert job.status == Status.FAILED and "pixel limit" in job.error
    shown = status_of(user_api, job_id)
    assert shown["status"] == "failed" and shown["metadata"]["retry_possible"] is True
    assert balance(user) == (50, 0)


def test_cancel_and_retry_work_for_operations(user_api, user):
    source = upload(user)
    job_id = submit(user_api, "upscale", source=source.id, scale=2).json()["id"]
    assert user_api.post(f"/api/v1/studio/generation/{job_id}/cancel").status_code == 200
    assert balance(user) == (50, 0)
    retried = user_api.post(f"/api/v1/studio/generation/{job_id}/retry")
    assert retried.status_code == 202, retried.content
    again = run(retried.json()["id"])
    assert again.status == Status.COMPLETED and again.retry_of_id == job_id
    assert again.params["scale"] == 2 and again.source_asset_id == source.id
    assert balance(user) == (46, 0)


def test_operations_show_in_history_and_delete_like_generations(user_api, user):
    job = run(submit(user_api, "upscale", source=upload(user).id).json()["id"])
    listed = user_api.get("/api/v1/users/generations", {"type": "operation"}).json()
    assert [g["id"] for g in listed["generations"]] == [job.id]
    assert listed["generations"][0]["metadata"]["operation"] == "clarity_upscale"
    key = job.outputs[0]["key"]
    assert user_api.delete(f"/api/v1/users/generation/{job.id}").status_code == 200
    assert not storage.exists(key)
    assert not Asset.objects.filter(generation_id=job.id).exists()


def test_operations_file_into_a_project(user_api, user):
    project = user_api.post("/api/v1/projects", {"name": "Logos"}, format="json").json()["id"]
    job = run(submit(user_api, "vectorize", source=upload(user).id, project=project).json()["id"])
    assert job.project_id == project
    assert Asset.objects.get(generation=job).project_id == project
    assert (
        submit(user_api, "vectorize", source=upload(user).id, project="prj_nope").status_code == 404
    )


def test_a_finished_operation_is_announced_to_webhooks(user_api, user, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    created = user_api.post(
        "/api/v1/webhooks",
        {"url": "http://127.0.0.1:9/hooks", "events": ["generation.completed"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    job = run(submit(user_api, "upscale", source=upload(user).id).json()["id"])
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "generation.completed"
    data = delivery.payload["data"]
    assert data["id"] == job.id and data["type"] == "operation"
    assert data["status"] == "completed" and data["url"]
    assert data["metadata"] == {"model": None, "credits_used": 4, "operation": "clarity_upscale"}


def test_an_idempotency_key_replays_an_operation(user_api, user):
    source = upload(user)
    first, second = (
        user_api.post(
            "/api/v1/studio/vectorize",
            {"source": source.id},
            format="json",
            HTTP_IDEMPOTENCY_KEY="op-1",
        )
        for _ in range(2)
    )
    assert first.json()["id"] == second.json()["id"]
    assert balance(user) == (50, 4)
