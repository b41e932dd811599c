"""Image operations as jobs: submitted through the API, run by the worker's code path in this
process (generation_run, as in test_generations.py), charged on the ledger like generations.

The worker-process runs on PostgreSQL + Redis + SeaweedFS are in test_worker_e2e.py.
"""

import io
from xml.etree import ElementTree

import numpy as np
import pytest
from PIL import Image

from studio import storage
from studio.models import Asset, AssetKind, Generation, Status, Style, WebhookDelivery
from studio.services.assets import asset_upload
from studio.services.execution import generation_run
from tests.conftest import login
from tests.factories import UserFactory
from tokens.audit import ledger_audit
from tokens.models import EntryKind, LedgerEntry

pytestmark = pytest.mark.django_db(transaction=True)

RED = (220, 30, 40)
BACKDROP = (235, 235, 228)


@pytest.fixture(autouse=True)
def _local_operations(settings, instant_studio):
    settings.OPERATION_PROVIDERS = {
        "background_removal": ["local"],
        "generative_upscale": ["local"],
    }


def shape_png(width=160, height=120, colour=RED, backdrop=BACKDROP) -> bytes:
    """A coloured disc on a plain backdrop (what background removal is for)."""
    yy, xx = np.mgrid[0:height, 0:width]
    disc = (xx - width / 2) ** 2 + (yy - height / 2) ** 2 <= (min(width, height) / 3) ** 2
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:] = backdrop
    pixels[disc] = colour
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def upload(user, data=None, **kwargs) -> Asset:
    return asset_upload(user=user, data=data or shape_png(), filename="shape.png", **kwargs)


def submit(api, path, **body):
    return api.post(f"/api/v1/studio/{path}", body, format="json")


def run(job_id: str) -> Generation:
    generation_run(generation_id=job_id)
    return Generation.objects.get(pk=job_id)


def status_of(api, job_id: str) -> dict:
    response = api.get(f"/api/v1/studio/generation/{job_id}")
    assert response.status_code == 200, response.content
    return response.json()


def balance(user) -> tuple[int, int]:
    user.token_account.refresh_from_db()
    return user.token_account.balance, user.token_account.held


def entries(user) -> list[tuple[str, int, int]]:
    """(kind, balance change, held change) of the user's entries after the opening grant."""
    return list(
        LedgerEntry.objects.filter(account__user=user)
        .exclude(kind=EntryKind.GRANT)
        .order_by("pk")
        .values_list("kind", "amount", "held_delta")
    )


def charged(cost: int) -> list[tuple[str, int, int]]:
    return [(EntryKind.HOLD, 0, cost), (EntryKind.CAPTURE, -cost, -cost)]


def output_bytes(generation: Generation) -> bytes:
    return storage.read(generation.outputs[0]["key"])


def rgba(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "RGBA"
        return np.asarray(image)


# --- Each operation end to end --------------------------------------------------------------


def test_vectorize_makes_an_svg_asset_at_the_source_size_and_charges_4(user_api, user):
    source = upload(user)
    response = submit(user_api, "vectorize", source=source.id, mode="color", detail="high")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["id"].startswith("op_") and body["status"] == "queued"
    assert body["metadata"]["operation"] == "vectorization"
    assert body["metadata"]["credits_used"] == 4
    assert balance(user) == (50, 4)

    job = run(body["id"])
    assert job.status == Status.COMPLETED, job.error
    svg = ElementTree.fromstring(output_bytes(job))
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert (svg.get("width"), svg.get("height")) == ("160", "120")
    assert svg.findall(".//{http://www.w3.org/2000/svg}path")
    shown = status_of(user_api, job.id)
    assert shown["status"] == "completed" and shown["progress"] == 100
    assert shown["metadata"]["content_type"] == "image/svg+xml"
    assert (shown["metadata"]["width"], shown["metadata"]["height"]) == (160, 120)
    assert shown["metadata"]["source"] == source.id and shown["metadata"]["detail"] == "high"
    # The thumbnail is a raster of what was traced.
    with Image.open(io.BytesIO(storage.read(job.outputs[0]["thumbnail_key"]))) as thumb:
        assert thumb.format == "WEBP"
    made = Asset.objects.get(generation=job)
    assert made.kind == AssetKind.GENERATED and made.content_type == "image/svg+xml"
    assert made.name.endswith(".svg")
    assert balance(user) == (46, 0)
    assert entries(user) == charged(4)
    assert ledger_audit() == []


def test_binary_vectorize_draws_in_one_colour(user_api, user):
    source = upload(user)
    job = run(submit(user_api, "vectorize", source=source.id, mode="binary").json()["id"])
    assert job.status == Status.COMPLETED, job.error
    fills = {
        path.get("fill").lower()
        for path in ElementTree.fromstring(output_bytes(job)).iter()
        if path.get("fill")
    }
    assert fills and fills <= {"#000000", "#ffffff"}


def test_remove_background_clears_the_backdrop_and_keeps_the_shape(user_api, user):
    source = upload(user, shape_png(200, 150))
    response = submit(user_api, "remove-background", source=source.id)
    assert response.status_code == 202, response.content
    job = run(response.json()["id"])
    assert job.status == Status.COMPLETED, job.error
    alpha = rgba(output_bytes(job))[:, :, 3]
    assert alpha.shape == (150, 200)
    yy, xx = np.mgrid[0:150, 0:200]
    distance = np.hypot(xx - 100, yy - 75)
    inside, outside = distance < 50 - 4, distance > 50 + 4
    assert (alpha[inside] > 224).mean() > 0.9
    assert (alpha[outside] < 32).mean() > 0.9
    shown = status_of(user_api, job.id)["metadata"]
    assert shown["provider"] == "local" and shown["method"] == "grabcut"
    assert entries(user) == charged(4)


@pytest.mark.parametrize("scale", [2, 4])
def test_upscale_is_exactly_scale_times_the_source(user_api, user, scale):
    source = upload(user, shape_png(90, 70))
    job = run(submit(user_api, "upscale", source=source.id, scale=scale).json()["id"])
    assert job.status == Status.COMPLETED, job.error
    with Image.open(io.BytesIO(output_bytes(job))) as image:
        assert image.format == "PNG" and image.size == (90 * scale, 70 * scale)
    assert status_of(user_api, job.id)["metadata"]["scale"] == scale
    assert balance(user) == (46, 0)


def test_generative_upscale_without_a_model_says_it_fell_back_and_charges_80(api):
    user = UserFactory(credits=100)
    client = login(api, user)
    source = upload(user, shape_png(64, 48))
    response = submit(client, "generative-upscale", source=source.id, scale=2)
    assert response.status_code == 202, response.content
    assert response.json()["metadata"]["credits_used"] == 80
    job = run(response.json()["id"])
    assert job.status == Status.COMPLETED, job.error
    meta = status_of(client, job.id)["metadata"]
    assert (meta["width"], meta["height"]) == (128, 96)
    assert meta["provider"] == "local" and "local fallback" in meta["method"]
    assert balance(user) == (20, 0)


def test_a_completed_generation_can_be_the_source(user_api, user):
    made = user_api.post(
        "/api/v1/studio/generate-image", {"prompt": "A red kite"}, format="json"
    ).json()["id"]
    assert run(made).status == Status.COMPLETED
    job = run(submit(user_api, "upscale", source=made, scale=2).json()["id"])
    assert job.status == Status.COMPLETED, job.error
    assert job.source_asset.generation_id == made
    assert (job.outputs[0]["width"], job.outputs[0]["height"]) == (32, 32)  # instant is 16x16


# --- Styles ---------------------------------------------------------------------------------


def test_a_style_is_made_from_references_and_listed(user_api, user):
    references = [
        upload(user, shape_png(colour=(20, 60, 200), backdrop=(250, 250, 250))).id,
        upload(user, shape_png(colour=(30, 80, 220), backdrop=(245, 245, 240))).id,
    ]
    response = submit(user_api, "styles", name="Blue hour", references=references)
    assert response.status_code == 202, response.content
    job = run(response.json()["id"])
    assert job.status == Status.COMPLETED, job.error
    style = Style.objects.get(user=user)
    assert style.name == "Blue hour" and style.generation_id == job.id
    assert sorted(a.pk for a in style.references.all()) == sorted(references)
    # The palette holds the references' blue and their white.
    palette = np.array(style.palette)
    assert np.abs(palette - (25, 70, 210)).sum(axis=1).min() < 60
    assert np.abs(palette - (248, 248, 245)).sum(axis=1).min() < 30
    assert "blue" in style.prompt_suffix
    with Image.open(io.BytesIO(output_bytes(job))) as swatch:
        assert swatch.size == (512, 128)
    assert status_of(user_api, job.id)["metadata"]["style_id"] == style.id

    listed = user_api.get("/api/v1/studio/styles").json()
    assert [s["id"] for s in listed["styles"]] == [style.id]
    assert listed["pagination"]["total"] == 1
    one = user_api.get(f"/api/v1/studio/styles/{style.id}").json()
    assert one["palette"] == style.palette and one["prompt_suffix"] == style.prompt_suffix
    assert balance(user) == (46, 0)


def test_generate_image_with_a_style_uses_its_palette_and_its_words(user_api, user, settings):
    style = Style.objects.create(
        id="sty_test",
        user=user,
        name="Teal",
        palette=[[0, 128, 128], [240, 240, 230]],
        prompt_suffix="cool moderate palette of teal and white",
    )
    response = user_api.post(
        "/api/v1/studio/generate-image",
        {"prompt": "A quiet harbour", "style_id": style.id, "seed": 7},
        format="json",
    )
    assert response.status_code == 202, response.content
    generation = Generation.objects.get(pk=response.json()["id"])
    assert generation.enhanced_prompt.endswith(style.prompt_suffix)
    assert generation.params["palette"] == style.palette
    assert generation.style_ref_id == style.id
    assert status_of(user_api, generation.id)["metadata"]["style_id"] == style.id


def test_the_local_renderer_draws_with_the_style_palette(user_api, user, settings):
    settings.IMAGE_PROVIDERS = ["local"]
    style = Style.objects.create(
        id="sty_green", user=user, name="Green", palette=[[30, 160, 60]], prompt_suffix="green"
    )
    plain, styled = (
        user_api.post(
            "/api/v1/studio/generate-image",
            {"prompt": "A quiet harbour", "seed": 7, **extra},
            format="json",
        ).json()["id"]
        for extra in ({}, {"style_id": style.id})
    )
    means = []
    for job_id in (plain, styled):
        job = run(job_id)
        assert job.status == Status.COMPLETED, job.error
        with Image.open(io.BytesIO(output_bytes(job))) as image:
            means.append(np.asarray(image.convert("RGB"), np.float64).mean(axis=(0, 1)))
    greenness = [m[1] - (m[0] + m[2]) / 2 for m in means]
    assert greenness[1] > greenness[0] + 5, means


def test_deleting_a_style_keeps_what_was_made_with_it(user_api, user):
    style = Style.objects.create(id="sty_del", user=user, name="X", palette=[], prompt_suffix="x")
    made = user_api.post(
        "/api/v1/studio/generate-image",
        {"prompt": "A red kite", "style_id": style.id},
        format="json",
    ).json()["id"]
    assert user_api.delete(f"/api/v1/studio/styles/{style.id}").status_code == 200
    assert user_api.get(f"/api/v1/studio/styles/{style.id}").status_code == 404
    assert Generation.objects.get(pk=made).style_ref_id is None


# --- Vector generation: generate, then trace, as one job --------------------------------------


@pytest.mark.parametrize(
    ("kind", "category"), [("vector_generation", ""), ("vector_illustration", "anime")]
)
def test_generate_vector_is_one_job_that_ends_in_an_svg(user_api, user, kind, category):
    response = submit(user_api, "generate-vector", prompt="A fox in a forest", type=kind)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["id"].startswith("img_") and body["metadata"]["credits_used"] == 8
    job = run(body["id"])
    assert job.status == Status.COMPLETED, job.error
    assert job.operation == kind and job.category == category
    ElementTree.fromstring(output_bytes(job))
    assert job.outputs[0]["content_type"] == "image/svg+xml"
    assert Asset.objects.get(generation=job).content_type == "image/svg+xml"
    assert entries(user) == charged(8)


# --- What is refused before anything is charged ---------------------------------------------


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


# --- The generation lifecycle applies ----------------------------------------------------------


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
