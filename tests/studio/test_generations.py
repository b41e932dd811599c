"""Generations through the API and the worker's code path, in this process.

The job runs by calling the actor's body (generation_run) — the same code a Dramatiq worker
runs; tests with a real worker process are in test_worker_e2e.py.
"""

import pytest

from studio.models import Generation, Status
from studio.services.execution import generation_run
from tests.conftest import login
from tests.factories import UserFactory
from tokens.audit import ledger_audit
from tokens.models import EntryKind, HoldStatus

# Jobs write files, and storage refuses to write inside a transaction: no test-wide one.
pytestmark = pytest.mark.django_db(transaction=True)

IMAGE = "/api/v1/studio/generate-image"
VIDEO = "/api/v1/studio/generate-video"


@pytest.fixture(autouse=True)
def _fast_providers(settings, tmp_path):
    settings.RATELIMIT_ENABLE = False  # per-plan limits have their own tests below
    settings.IMAGE_PROVIDERS = ["instant"]
    settings.VIDEO_PROVIDERS = ["instant"]
    settings.MEDIA_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path), "base_url": "/media/"},
        },
    }


def submit(api, path=IMAGE, **fields):
    """POST a generation; HTTP_* keyword arguments are headers, the rest the JSON body."""
    headers = {k: v for k, v in fields.items() if k.startswith("HTTP_")}
    body = {k: v for k, v in fields.items() if not k.startswith("HTTP_")}
    return api.post(path, {"prompt": "A lighthouse at dawn", **body}, format="json", **headers)


def balance(user) -> tuple[int, int]:
    user.token_account.refresh_from_db()
    return user.token_account.balance, user.token_account.held


# --- Submission ---------------------------------------------------------------------------


def test_submission_is_accepted_with_the_seed_shape_and_holds_the_price(user_api, user):
    response = submit(user_api, model="flux-pro", category="photorealistic")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["id"].startswith("img_") and body["status"] == "queued"
    assert body["metadata"]["credits_used"] == 4 and body["metadata"]["model"] == "flux-pro"
    assert body["metadata"]["estimated_time"] >= 1
    assert isinstance(body["metadata"]["seed"], int)
    assert balance(user) == (50, 4)
    generation = Generation.objects.get(pk=body["id"])
    assert generation.hold.status == HoldStatus.OPEN and generation.hold.amount == 4
    assert generation.enhanced_prompt.startswith("A lighthouse at dawn, photorealistic")


def test_num_images_multiplies_the_price(user_api, user):
    response = submit(user_api, model="sdxl", num_images=4)
    assert response.status_code == 202
    assert response.json()["metadata"]["credits_used"] == 12
    assert balance(user) == (50, 12)


def test_video_costs_the_video_model_price(user_api, user):
    response = submit(user_api, VIDEO, model="runway", duration=5, fps=12)
    assert response.status_code == 202, response.content
    assert response.json()["id"].startswith("vid_")
    assert balance(user) == (50, 5)


def test_insufficient_credits_is_403_with_required_available_and_model_and_creates_nothing(api):
    user = UserFactory(credits=3)
    response = submit(login(api, user), model="flux-pro")
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "INSUFFICIENT_CREDITS"
    assert body["details"] == {"required": 4, "available": 3, "model": "flux-pro"}
    assert not Generation.objects.filter(user=user).exists()
    assert balance(user) == (3, 0)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (IMAGE, {"prompt": "hi"}, "prompt"),
        (IMAGE, {"prompt": "x" * 501}, "prompt"),
        (IMAGE, {"model": "dall-e"}, "model"),
        (IMAGE, {"category": "cubism"}, "category"),
        (IMAGE, {"size": "512x512"}, "size"),
        (IMAGE, {"steps": 9}, "steps"),
        (IMAGE, {"steps": 51}, "steps"),
        (IMAGE, {"cfg_scale": 0.5}, "cfg_scale"),
        (IMAGE, {"cfg_scale": 21}, "cfg_scale"),
        (IMAGE, {"num_images": 0}, "num_images"),
        (IMAGE, {"num_images": 5}, "num_images"),
        (IMAGE, {"seed": -1}, "seed"),
        (IMAGE, {"seed": 2**32}, "seed"),
        (IMAGE, {"style": "s" * 201}, "style"),
        (VIDEO, {"duration": 2}, "duration"),
        (VIDEO, {"duration": 11}, "duration"),
        (VIDEO, {"model": "pika", "duration": 6}, "duration"),
        (VIDEO, {"fps": 7}, "fps"),
        (VIDEO, {"fps": 31}, "fps"),
        (VIDEO, {"model": "sora"}, "model"),
        (VIDEO, {"style": "noir"}, "style"),
    ],
)
def test_out_of_range_fields_are_400_naming_the_field_and_charge_nothing(
    user_api, user, path, body, field
):
    payload = {"prompt": "A lighthouse at dawn", **body}
    response = user_api.post(path, payload, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "INVALID_REQUEST"
    assert field in response.json()["details"]
    assert balance(user) == (50, 0)
    assert not Generation.objects.exists()


def test_idempotency_key_replays_the_original_and_charges_once(user_api, user):
    first = submit(user_api, HTTP_IDEMPOTENCY_KEY="req-1")
    again = submit(user_api, HTTP_IDEMPOTENCY_KEY="req-1")
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert balance(user) == (50, 4)
    assert Generation.objects.count() == 1


def test_idempotency_key_with_another_body_is_409(user_api, user):
    submit(user_api, HTTP_IDEMPOTENCY_KEY="req-1")
    response = submit(user_api, model="sdxl", HTTP_IDEMPOTENCY_KEY="req-1")
    assert response.status_code == 409
    assert response.json()["code"] == "IDEMPOTENCY_CONFLICT"
    assert balance(user) == (50, 4)


def test_a_malformed_idempotency_key_is_400(user_api):
    response = submit(user_api, HTTP_IDEMPOTENCY_KEY="has spaces in it")
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["details"]


def test_unauthenticated_submission_is_401(api):
    assert submit(api).status_code == 401


# --- Running ------------------------------------------------------------------------------


def test_a_job_runs_to_completed_captures_its_hold_and_serves_its_file(user_api, user):
    generation_id = submit(user_api, size="1920x1080").json()["id"]
    generation_run(generation_id=generation_id)

    body = user_api.get(f"/api/v1/studio/generation/{generation_id}").json()
    assert body["status"] == "completed" and body["progress"] == 100
    meta = body["metadata"]
    # The instant provider answers with a tiny picture whatever was asked; the metadata tells
    # what was made, and by whom.
    assert (meta["width"], meta["height"], meta["source"]) == (16, 16, "instant")
    assert Generation.objects.get(pk=generation_id).params["size"] == "1920x1080"
    assert meta["credits_used"] == 4 and meta["enhancedPrompt"] and "seed" in meta
    assert body["url"] and body["thumbnail_url"]
    assert balance(user) == (46, 0)
    hold = Generation.objects.get(pk=generation_id).hold
    assert hold.status == HoldStatus.CAPTURED
    assert hold.entries.filter(kind=EntryKind.CAPTURE).count() == 1
    assert ledger_audit() == []


def test_running_a_job_twice_does_nothing_the_second_time(user_api, user):
    generation_id = submit(user_api).json()["id"]
    generation_run(generation_id=generation_id)
    generation_run(generation_id=generation_id)  # a redelivered message
    assert balance(user) == (46, 0)
    assert Generation.objects.get(pk=generation_id).attempts == 1


def test_all_providers_failing_fails_the_job_and_releases_once(user_api, user, settings):
    settings.IMAGE_PROVIDERS = ["pollinations"]
    settings.POLLINATIONS_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    generation_id = submit(user_api).json()["id"]
    generation_run(generation_id=generation_id)

    body = user_api.get(f"/api/v1/studio/generation/{generation_id}").json()
    assert body["status"] == "failed"
    assert body["retry_possible"] is True and body["metadata"]["retry_possible"] is True
    assert "pollinations" in body["error"]
    assert [a["provider"] for a in body["attempts"]] == ["pollinations"]
    assert balance(user) == (50, 0)
    generation = Generation.objects.get(pk=generation_id)
    assert generation.hold.entries.filter(kind=EntryKind.RELEASE).count() == 1
    generation_run(generation_id=generation_id)
    assert generation.hold.entries.filter(kind=EntryKind.RELEASE).count() == 1
    assert ledger_audit() == []


def test_a_failing_provider_falls_back_to_the_next_and_both_attempts_are_shown(user_api, settings):
    settings.IMAGE_PROVIDERS = ["pollinations", "instant"]
    settings.POLLINATIONS_URL = "http://127.0.0.1:9"
    generation_id = submit(user_api).json()["id"]
    generation_run(generation_id=generation_id)
    body = user_api.get(f"/api/v1/studio/generation/{generation_id}").json()
    assert body["status"] == "completed"
    assert body["metadata"]["source"] == "instant"
    providers = [(a["provider"], bool(a["error"])) for a in body["attempts"]]
    assert providers == [("pollinations", True), ("instant", False)]


# --- Cancel, retry, delete ------------------------------------------------------------------


def test_cancel_before_generation_releases_and_the_worker_then_does_nothing(user_api, user):
    generation_id = submit(user_api).json()["id"]
    response = user_api.post(f"/api/v1/studio/generation/{generation_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert balance(user) == (50, 0)
    generation_run(generation_id=generation_id)
    generation = Generation.objects.get(pk=generation_id)
    assert generation.status == Status.CANCELLED and generation.attempts == 0
    assert ledger_audit() == []


def test_cancel_of_a_completed_generation_is_409(user_api, user):
    generation_id = submit(user_api).json()["id"]
    generation_run(generation_id=generation_id)
    response = user_api.post(f"/api/v1/studio/generation/{generation_id}/cancel")
    assert response.status_code == 409
    assert balance(user) == (46, 0)


def test_retry_makes_a_new_generation_linked_to_the_original_and_charges_anew(user_api, user):
    generation_id = submit(user_api, seed=77).json()["id"]
    user_api.post(f"/api/v1/studio/generation/{generation_id}/cancel")
    response = user_api.post(f"/api/v1/studio/generation/{generation_id}/retry")
    assert response.status_code == 202, response.content
    retry = Generation.objects.get(pk=response.json()["id"])
    assert retry.retry_of_id == generation_id and retry.seed == 77
    assert retry.params == Generation.objects.get(pk=generation_id).params
    assert balance(user) == (50, 4)


def test_retry_of_a_queued_generation_is_409(user_api):
    generation_id = submit(user_api).json()["id"]
    response = user_api.post(f"/api/v1/studio/generation/{generation_id}/retry")
    assert response.status_code == 409


def test_delete_removes_the_row_and_its_files(user_api, user, tmp_path):
    generation_id = submit(user_api).json()["id"]
    generation_run(generation_id=generation_id)
    folder = tmp_path / "users" / str(user.pk) / "generations" / generation_id
    assert any(folder.rglob("original.png"))
    response = user_api.delete(f"/api/v1/users/generation/{generation_id}")
    assert response.status_code == 200
    assert response.json() == {"message": "Generation deleted successfully"}
    assert not Generation.objects.filter(pk=generation_id).exists()
    assert not any(folder.rglob("*"))


def test_deleting_a_queued_generation_refunds_it(user_api, user):
    generation_id = submit(user_api).json()["id"]
    user_api.delete(f"/api/v1/users/generation/{generation_id}")
    assert balance(user) == (50, 0)
    assert ledger_audit() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/studio/generation/{id}"),
        ("post", "/api/v1/studio/generation/{id}/cancel"),
        ("post", "/api/v1/studio/generation/{id}/retry"),
        ("delete", "/api/v1/users/generation/{id}"),
    ],
)
def test_another_users_generation_is_404_everywhere(api, user_api, method, path):
    generation_id = submit(user_api).json()["id"]
    stranger = login(api.__class__(), UserFactory())
    response = getattr(stranger, method)(path.format(id=generation_id))
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert Generation.objects.get(pk=generation_id).status == Status.QUEUED


# --- History --------------------------------------------------------------------------------


def test_history_is_paginated_newest_first_and_filtered(user_api, user):
    ids = [submit(user_api).json()["id"] for _ in range(3)]
    video = submit(user_api, VIDEO, duration=3, fps=8).json()["id"]
    generation_run(generation_id=ids[0])

    body = user_api.get("/api/v1/users/generations?limit=2").json()
    assert [g["id"] for g in body["generations"]] == [video, ids[2]]
    assert body["pagination"] == {
        "page": 1,
        "limit": 2,
        "total": 4,
        "pages": 2,
        "hasNext": True,
        "hasPrev": False,
    }
    images = user_api.get("/api/v1/users/generations?type=image").json()
    assert {g["id"] for g in images["generations"]} == set(ids)
    done = user_api.get("/api/v1/users/generations?status=completed").json()["generations"]
    assert [g["id"] for g in done] == [ids[0]] and done[0]["url"]
    assert user_api.get("/api/v1/users/generations?limit=101").status_code == 400
    assert user_api.get("/api/v1/users/generations?type=gif").status_code == 400


def test_profile_counts_generations(user_api):
    submit(user_api)
    submit(user_api)
    assert user_api.get("/api/v1/users/profile").json()["totalGenerations"] == 2


def test_queries_per_history_page_do_not_grow_with_its_size(
    user_api, django_assert_max_num_queries
):
    for _ in range(6):
        submit(user_api)
    with django_assert_max_num_queries(8):
        response = user_api.get("/api/v1/users/generations?limit=100")
    assert len(response.json()["generations"]) == 6


# --- Rate limits per plan ------------------------------------------------------------------


def test_free_plan_allows_three_images_a_minute(user_api, user, settings):
    settings.RATELIMIT_ENABLE = True
    statuses = [submit(user_api).status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    assert balance(user) == (50, 12)


def test_free_plan_allows_one_video_a_minute_separately_from_images(user_api, settings):
    settings.RATELIMIT_ENABLE = True
    assert submit(user_api, VIDEO, duration=3, fps=8).status_code == 202
    limited = submit(user_api, VIDEO, duration=3, fps=8)
    assert limited.status_code == 429
    assert limited.json()["details"]["limit"] == 1
    assert submit(user_api).status_code == 202


def test_the_ledger_history_names_the_generation_each_movement_paid_for(user_api):
    paid = submit(user_api).json()["id"]
    generation_run(generation_id=paid)
    refunded = submit(user_api).json()["id"]
    user_api.post(f"/api/v1/studio/generation/{refunded}/cancel")

    history = user_api.get("/api/v1/tokens").json()["history"]
    named = {(e["kind"], (e["subject"] or {}).get("id")) for e in history if e["kind"] != "grant"}
    assert named == {
        ("hold", paid),
        ("capture", paid),
        ("hold", refunded),
        ("release", refunded),
    }
    assert all(e["subject"]["type"] == "generation" for e in history if e["kind"] != "grant")
