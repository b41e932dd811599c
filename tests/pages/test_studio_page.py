"""The studio page: its form states the API's own limits and prices, "use these settings"
prefills from a generation's record (the owner's only), and odd query strings never break it."""

import json
import re

import pytest
from rest_framework.test import APIClient

from studio.apis.generations import GenerateImageApi, GenerateVideoApi
from tests.conftest import login
from tests.factories import UserFactory
from tokens import catalog

pytestmark = pytest.mark.django_db


def page_data(response) -> dict:
    html = response.content.decode()
    raw = re.search(r'<script id="studio-data" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(raw.group(1))


def test_the_form_states_the_apis_limits_and_the_catalogs_prices(page):
    response = page.get("/studio/")
    assert response.status_code == 200
    html = response.content.decode()
    steps = GenerateImageApi.InputSerializer().fields["steps"]
    assert f'name="steps" min="{steps.min_value}" max="{steps.max_value}"' in html
    fps = GenerateVideoApi.InputSerializer().fields["fps"]
    assert f'name="fps" min="{fps.min_value}" max="{fps.max_value}"' in html
    assert 'maxlength="500"' in html and 'minlength="3"' in html
    options = page_data(response)["options"]
    assert {m["value"]: m["cost"] for m in options["image_models"]} == {
        model: price.cost for model, price in catalog.IMAGE_MODELS.items()
    }
    assert {op["operation"]: op["cost"] for op in options["operations"]}[
        "generative_upscale"
    ] == catalog.cost_of("generative_upscale")
    for model, price in catalog.VIDEO_MODELS.items():
        assert f"{model} · {price.cost} cr" in html


def test_use_these_settings_prefills_the_recorded_parameters_seed_included(
    page, user, instant_studio
):
    api = login(APIClient(), user)
    accepted = api.post(
        "/api/v1/studio/generate-image",
        {
            "prompt": "A red kite over dunes",
            "model": "sdxl",
            "category": "anime",
            "size": "1920x1080",
            "steps": 42,
            "cfg_scale": 9.5,
            "negative_prompt": "blur",
            "num_images": 2,
            "seed": 777,
        },
        format="json",
    ).json()
    html = page.get(f"/studio/?from={accepted['id']}").content.decode()
    assert ">A red kite over dunes</textarea>" in html
    assert '<option value="sdxl" selected>' in html
    assert '<option value="anime" selected>' in html
    assert '<option value="1920x1080" selected>' in html
    assert 'name="steps" min="10" max="50" value="42"' in html
    assert 'step="0.5" value="9.5"' in html
    assert 'value="777"' in html and 'id="seed-random" data-skip checked' not in html
    assert ">blur</textarea>" in html
    assert 'name="num_images" value="2" data-type="number" data-estimate checked' in html


def test_someone_elses_or_an_unknown_generation_is_404(page, instant_studio):
    other = login(APIClient(), UserFactory())
    theirs = other.post(
        "/api/v1/studio/generate-image", {"prompt": "Not yours"}, format="json"
    ).json()["id"]
    assert page.get(f"/studio/?from={theirs}").status_code == 404
    assert page.get("/studio/?from=img_0_nope").status_code == 404
    assert page.get("/studio/?from=" + "x" * 5000).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "seed=abc",
        "seed=-5",
        "prompt=" + "p" * 5000,
        "kind=sculpture",
        "category=%00",
        "model=unknown&size=1x1",
    ],
)
def test_odd_query_strings_prefill_what_is_valid_and_never_fail(page, query):
    response = page.get(f"/studio/?{query}")
    assert response.status_code == 200
    assert 'value="abc"' not in response.content.decode()


def test_the_landings_prompt_link_prefills_the_form(page):
    html = page.get("/studio/?prompt=Misty+lake&category=painting&seed=2024").content.decode()
    assert ">Misty lake</textarea>" in html
    assert '<option value="painting" selected>' in html and 'value="2024"' in html


def test_recent_generations_and_running_jobs_are_on_the_page(page, user, instant_studio):
    api = login(APIClient(), user)
    job = api.post("/api/v1/studio/generate-image", {"prompt": "Queued one"}, format="json")
    response = page.get("/studio/")
    assert f'data-generation="{job.json()["id"]}"' in response.content.decode()
    assert page_data(response)["active"] == [job.json()["id"]]  # queued: followed live


def test_an_empty_studio_says_what_to_do(page):
    html = page.get("/studio/").content.decode()
    assert "Your next picture appears here" in html
    assert "Nothing yet." in html
