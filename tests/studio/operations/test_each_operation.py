"""Image operations as jobs: each one submitted through the API, run by the worker's code
path in this process (generation_run), charged on the ledger like generations; styles and
vector generation.

The worker-process runs on PostgreSQL + Redis + SeaweedFS are in test_operations_e2e.py."""

import io
from xml.etree import ElementTree

import numpy as np
import pytest
from PIL import Image

from studio import storage
from studio.models import Asset, AssetKind, Generation, Status, Style
from tests.conftest import login
from tests.factories import UserFactory
from tests.studio.operations.support import (
    balance,
    charged,
    entries,
    output_bytes,
    rgba,
    run,
    shape_png,
    status_of,
    submit,
    upload,
)
from tokens.audit import ledger_audit

pytestmark = pytest.mark.django_db(transaction=True)


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
