"""Templates through the API: who sees and changes what, the list's search, filters, sort and
pages, pipelines of a template, export and import, ratings, and the starter templates."""

import json

import pytest
from rest_framework.test import APIClient

from pipelines.models import Rating, Step, Template
from pipelines.services.templates import template_create
from tests.conftest import assert_error, login
from tests.factories import UserFactory
from tests.pipelines.support import BASE, create, two_steps

pytestmark = pytest.mark.django_db


@pytest.fixture
def other():
    user = UserFactory()
    return user, login(APIClient(), user)


def listed(api, **query) -> list[str]:
    response = api.get(f"{BASE}/templates", query)
    assert response.status_code == 200, response.content
    return [t["name"] for t in response.json()["templates"]]


def test_starter_templates_are_public_and_owned_by_nobody(api):
    names = listed(api, owner="public", limit=100)
    for name in ("Logo kit", "Poster", "Sticker", "Brand moodboard"):
        assert name in names
    logo = Template.objects.get(starter="logo-kit")
    assert logo.owner is None
    body = api.get(f"{BASE}/templates/{logo.pk}").json()
    assert [s["operation"] for s in body["steps"]] == [
        "generate-image",
        "remove-background",
        "vectorize",
    ]
    assert body["owner"] == {"name": "CraftFrame"} and body["starter"] is True


def test_a_private_template_is_404_to_everyone_but_its_owner(user_api, other):
    private = create(user_api, two_steps(name="Secret", visibility="private"))
    _, stranger = other
    for client in (stranger, APIClient()):
        assert_error(client.get(f"{BASE}/templates/{private['id']}"), 404, "NOT_FOUND")
        assert_error(client.get(f"{BASE}/templates/{private['id']}/export"), 404, "NOT_FOUND")
        assert "Secret" not in listed(client, limit=100)
    assert user_api.get(f"{BASE}/templates/{private['id']}").status_code == 200
    assert "Secret" in listed(user_api, owner="mine")


def test_only_the_owner_changes_or_deletes_a_public_template(user_api, other):
    public = create(user_api, two_steps(name="Shared"))
    _, stranger = other
    assert stranger.get(f"{BASE}/templates/{public['id']}").status_code == 200
    assert_error(
        stranger.patch(f"{BASE}/templates/{public['id']}", {"name": "Mine now"}, format="json"),
        404,
        "NOT_FOUND",
    )
    assert_error(stranger.delete(f"{BASE}/templates/{public['id']}"), 404, "NOT_FOUND")
    assert Template.objects.get(pk=public["id"]).name == "Shared"
    assert user_api.delete(f"{BASE}/templates/{public['id']}").status_code == 200
    assert not Template.objects.filter(pk=public["id"]).exists()


def test_starters_are_read_only(user_api):
    logo = Template.objects.get(starter="logo-kit")
    response = user_api.patch(f"{BASE}/templates/{logo.pk}", {"name": "Mine"}, format="json")
    assert_error(response, 404, "NOT_FOUND")


def test_writing_needs_a_signed_in_user(api):
    assert_error(api.post(f"{BASE}/templates", two_steps(), format="json"), 401, "UNAUTHORIZED")


def test_an_update_bumps_the_version_and_replaces_the_steps(user_api):
    template = create(user_api, two_steps())
    response = user_api.patch(
        f"{BASE}/templates/{template['id']}",
        {
            "tags": ["Kites", "flat"],
            "steps": [{"operation": "generate-image", "params": {"prompt": "{{inputs.subject}}"}}],
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] == 2 and body["tags"] == ["kites", "flat"]
    assert (
        len(body["steps"]) == 1
        and Step.objects.filter(pipeline__template_id=body["id"]).count() == 1
    )


def test_the_list_searches_filters_by_tag_sorts_and_pages(user_api, other):
    owner, _ = other
    for index, (name, tags) in enumerate(
        [("Kite maker", ["kites"]), ("Owl poster", ["birds", "prints"]), ("Fern", ["plants"])]
    ):
        template = template_create(owner=owner, document=two_steps(name=name, tags=tags))
        Template.objects.filter(pk=template.pk).update(runs=10 * index)
    assert listed(user_api, q="owl") == ["Owl poster"]
    assert listed(user_api, q="KITE") == ["Kite maker"]
    assert listed(user_api, tag="prints") == ["Owl poster"]
    assert listed(user_api, tag="bird") == []  # whole tags only
    assert listed(user_api, owner="mine") == []
    popular = listed(user_api, sort="popular", limit=3)
    assert popular[:1] == ["Fern"]
    newest = listed(user_api, sort="newest", q="o")  # Owl poster, Kite maker? no: "o" in both
    assert newest.index("Owl poster") < newest.index("Kite maker")
    page = user_api.get(f"{BASE}/templates", {"limit": 2, "page": 2}).json()
    assert page["pagination"]["page"] == 2 and page["pagination"]["hasPrev"] is True
    assert page["pagination"]["total"] == Template.objects.filter(visibility="public").count()
    assert_error(user_api.get(f"{BASE}/templates", {"sort": "worst"}), 400, "INVALID_REQUEST")
    assert_error(user_api.get(f"{BASE}/templates", {"limit": 101}), 400, "INVALID_REQUEST")


def test_sort_by_rating_puts_unrated_last(user_api, other):
    owner, _ = other
    low = template_create(owner=owner, document=two_steps(name="Low"))
    high = template_create(owner=owner, document=two_steps(name="High"))
    template_create(owner=owner, document=two_steps(name="Unrated"))
    for template, score in ((low, 2), (high, 5)):
        assert (
            user_api.post(
                f"{BASE}/templates/{template.pk}/rating", {"score": score}, format="json"
            ).status_code
            == 200
        )
    ordered = listed(user_api, sort="rating", limit=100)
    assert ordered.index("High") < ordered.index("Low") < ordered.index("Unrated")


def test_ratings_are_one_per_user_changeable_and_not_on_your_own(user_api, user, other):
    owner, owner_api = other
    template = template_create(owner=owner, document=two_steps())
    url = f"{BASE}/templates/{template.pk}/rating"
    body = user_api.post(url, {"score": 4}, format="json").json()
    assert body["rating"] == {"average": 4.0, "count": 1} and body["myRating"] == 4
    body = user_api.post(url, {"score": 2}, format="json").json()
    assert body["rating"] == {"average": 2.0, "count": 1} and body["myRating"] == 2
    third = login(APIClient(), UserFactory())
    body = third.post(url, {"score": 5}, format="json").json()
    assert body["rating"] == {"average": 3.5, "count": 2}
    assert Rating.objects.filter(template=template).count() == 2
    assert_error(owner_api.post(url, {"score": 5}, format="json"), 400, "INVALID_REQUEST")
    for score in (0, 6, "five", None):
        assert_error(user_api.post(url, {"score": score}, format="json"), 400, "INVALID_REQUEST")
    private = template_create(owner=owner, document=two_steps(visibility="private"))
    assert_error(
        user_api.post(f"{BASE}/templates/{private.pk}/rating", {"score": 3}, format="json"),
        404,
        "NOT_FOUND",
    )
    template.refresh_from_db()
    assert (template.rating_count, template.rating_sum) == (2, 7)


def test_pipelines_of_a_template(user_api, other):
    template = create(user_api, two_steps())
    url = f"{BASE}/templates/{template['id']}/pipelines"
    listing = user_api.get(url).json()["pipelines"]
    assert len(listing) == 1 and len(listing[0]["steps"]) == 2
    added = user_api.post(
        url,
        {
            "name": "Just draw",
            "steps": [{"operation": "generate-image", "params": {"prompt": "{{inputs.subject}}"}}],
        },
        format="json",
    )
    assert added.status_code == 201, added.content
    pipeline = added.json()
    assert user_api.get(f"{BASE}/pipelines/{pipeline['id']}").json()["name"] == "Just draw"
    bad = user_api.patch(
        f"{BASE}/pipelines/{pipeline['id']}",
        {"steps": [{"operation": "vectorize", "params": {"source": "{{inputs.nope}}"}}]},
        format="json",
    )
    assert_error(bad, 400, "INVALID_REQUEST", field="steps.1.source")
    renamed = user_api.patch(f"{BASE}/pipelines/{pipeline['id']}", {"name": "Draw"}, format="json")
    assert renamed.json()["name"] == "Draw"
    _, stranger = other
    assert_error(stranger.get(f"{BASE}/pipelines/{pipeline['id']}"), 404, "NOT_FOUND")
    assert_error(stranger.post(url, {"steps": []}, format="json"), 404, "NOT_FOUND")
    assert user_api.delete(f"{BASE}/pipelines/{pipeline['id']}").status_code == 200
    only = listing[0]["id"]
    assert_error(user_api.delete(f"{BASE}/pipelines/{only}"), 409, "CONFLICT")


def test_export_then_import_gives_the_same_template_to_another_account(user_api, other):
    template = create(user_api, two_steps(name="Portable"))
    exported = user_api.get(f"{BASE}/templates/{template['id']}/export")
    assert exported.status_code == 200
    document = exported.json()
    assert document["format"] == "craftframe.template" and "owner" not in document
    assert user_api.post(f"{BASE}/templates/{template['id']}/export").json() == document
    _, stranger = other
    imported = stranger.post(f"{BASE}/templates/import", document, format="json")
    assert imported.status_code == 201, imported.content
    body = imported.json()
    assert body["id"] != template["id"] and body["visibility"] == "private" and body["mine"]
    again = stranger.get(f"{BASE}/templates/{body['id']}/export").json()
    assert again == document


def hostile_documents():
    good = two_steps()
    deep: object = "x"
    for _ in range(5000):
        deep = {"a": deep}
    yield "unknown operation", {**good, "steps": [{"operation": "rm -rf", "params": {}}]}
    yield "10,000 steps", {**good, "steps": [good["steps"][0]] * 10_000}
    yield (
        "10,000 inputs",
        {**good, "inputs": [{"name": f"i{n}", "type": "text"} for n in range(10_000)]},
    )
    yield (
        "deep nesting",
        {**good, "steps": [{"operation": "generate-image", "params": {"prompt": deep}}]},
    )
    yield "huge string", {**good, "name": "n" * 1_000_000}
    yield (
        "huge prompt",
        {**good, "steps": [{"operation": "generate-image", "params": {"prompt": "p" * 100_000}}]},
    )
    yield "not an object", ["steps"]
    yield "wrong format", {**good, "format": "comfyui.workflow"}
    yield "steps not a list", {**good, "steps": {"1": good["steps"][0]}}
    yield "params not an object", {**good, "steps": [{"operation": "upscale", "params": "source"}]}
    yield "null bytes", {**good, "name": "a\x00b", "inputs": [{"name": "a\x00", "type": "text"}]}


@pytest.mark.parametrize(
    "label, document", list(hostile_documents()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_a_malformed_or_hostile_import_is_400_and_saves_nothing(user_api, label, document):
    before = Template.objects.count()
    body = json.dumps(document) if label != "deep nesting" else None
    if body is None:
        # Nested deeper than the JSON parser goes: built as text.
        body = '{"name": "x", "steps": [' + '{"a":' * 100_000 + "1" + "}" * 100_000 + "]}"
    response = user_api.post(f"{BASE}/templates/import", body, content_type="application/json")
    assert response.status_code in (400, 413), (label, response.status_code)
    assert response.json()["code"] in ("INVALID_REQUEST", "PAYLOAD_TOO_LARGE")
    assert Template.objects.count() == before
