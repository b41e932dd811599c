"""The template builder's pages: a new template for anyone signed in, editing only for the
owner (a starter or someone else's template is a 404), and the operations catalog the page
embeds states every operation's fields with the API's own limits and the catalog's prices."""

import json
import re

import pytest
from rest_framework.test import APIClient

from pipelines.models import Template
from pipelines.spec import MAX_STEPS, RUN_TIME_PARAMS, field_kind
from studio.apis.job_types import JOB_TYPES
from tests.conftest import login
from tests.factories import UserFactory
from tests.pipelines.support import create, two_steps
from tokens import catalog

pytestmark = pytest.mark.django_db


def builder_data(response) -> dict:
    html = response.content.decode()
    raw = re.search(r'<script id="builder-data" type="application/json">(.*?)</script>', html, re.S)
    assert raw, "the page embeds its data with json_script"
    return json.loads(raw.group(1))


def test_the_new_page_opens_for_a_signed_in_user_with_an_empty_document(page):
    response = page.get("/templates/new/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>" not in html  # strict CSP: only external scripts and json_script data
    data = builder_data(response)
    assert data["template"] is None
    assert data["document"]["steps"] == [] and data["document"]["inputs"] == []
    assert data["urls"]["create"] == "/api/v1/templates"
    assert data["urls"]["import"] == "/api/v1/templates/import"


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/templates/new/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_owner_edits_their_template_with_its_document(page, user):
    template = create(login(APIClient(), user), two_steps(name="Sticker run"))
    response = page.get(f"/templates/{template['id']}/edit/")
    assert response.status_code == 200
    data = builder_data(response)
    assert data["template"]["id"] == template["id"]
    assert data["document"]["name"] == "Sticker run"
    assert data["document"]["visibility"] == "public"
    assert data["document"]["steps"][1]["params"] == {"source": "{{steps.1.output}}"}
    assert data["urls"]["export"] == "/api/v1/templates/__id__/export"


def test_someone_elses_template_is_404_even_when_public(page):
    theirs = create(login(APIClient(), UserFactory()), two_steps(visibility="public"))
    assert page.get(f"/templates/{theirs['id']}/edit/").status_code == 404


def test_a_starter_template_is_not_editable(page):
    starter = Template.objects.filter(owner=None).exclude(starter="").first()
    assert starter is not None, "the data migration ships starter templates"
    assert page.get(f"/templates/{starter.pk}/edit/").status_code == 404


def test_an_unknown_template_is_404(page):
    assert page.get("/templates/tpl_nothing/edit/").status_code == 404


def test_the_catalog_names_every_operation_with_its_fields_and_the_apis_limits(page):
    data = builder_data(page.get("/templates/new/"))
    operations = {op["name"]: op for op in data["operations"]}
    assert list(operations) == list(JOB_TYPES)
    for name, job in JOB_TYPES.items():
        op = operations[name]
        assert op["label"] == job.label and op["produces"] == job.produces
        serializer_fields = {
            n: f
            for n, f in job.serializer().fields.items()
            if not f.read_only and n not in RUN_TIME_PARAMS
        }
        fields = {f["name"]: f for f in op["fields"]}
        assert list(fields) == list(serializer_fields), name
        for field_name, field in serializer_fields.items():
            shown = fields[field_name]
            assert shown["required"] == field.required
            assert shown["kind"] == field_kind(field_name, field)
            for key, attr in (("min", "min_value"), ("max", "max_value")):
                assert shown.get(key) == getattr(field, attr, None), (name, field_name)
            if hasattr(field, "choices") and not hasattr(field, "child"):
                assert [c["value"] for c in shown["choices"]] == list(field.choices)
    assert "project" not in {f["name"] for op in data["operations"] for f in op["fields"]}

    image = {f["name"]: f for f in operations["generate-image"]["fields"]}
    assert (image["steps"]["min"], image["steps"]["max"], image["steps"]["default"]) == (10, 50, 30)
    assert image["prompt"]["maxLength"] == 500 and image["prompt"]["minLength"] == 3
    assert image["style_id"]["kind"] == "style"
    assert {f["name"]: f["kind"] for f in operations["remove-background"]["fields"]} == {
        "source": "image"
    }
    references = {f["name"]: f for f in operations["style"]["fields"]}["references"]
    assert references["list"] and (references["minItems"], references["maxItems"]) == (1, 10)
    assert data["rules"]["maxSteps"] == MAX_STEPS


def test_prices_come_from_the_catalog(page):
    html = page.get("/templates/new/").content.decode()
    data = builder_data(page.get("/templates/new/"))
    operations = {op["name"]: op for op in data["operations"]}
    image = operations["generate-image"]["price"]
    assert image["fields"] == ["model", "num_images"]
    for model, price in catalog.IMAGE_MODELS.items():
        assert image["table"][f"{model}|1"] == price.cost
        assert image["table"][f"{model}|3"] == price.cost * 3
    assert operations["generative-upscale"]["price"]["default"] == catalog.cost_of(
        "generative_upscale"
    )
    assert operations["remove-background"]["price"]["default"] == catalog.cost_of(
        "background_removal"
    )
    cheapest = min(p.cost for p in catalog.IMAGE_MODELS.values())
    assert f"from {cheapest} cr" in html  # the picker's label for generate-image
