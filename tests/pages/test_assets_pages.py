"""The assets and projects pages with Django's test client: the asset grid with its filters,
pagination and empty states, an asset's page with the operations it offers (priced from the
catalog), the board of projects and a project's page with its two tabs; sign-in and ownership
enforced as on the API."""

import re
import sys

import pytest
from rest_framework.test import APIClient

from studio.labels import NEXT_STEPS
from studio.models import Asset
from tests.conftest import login
from tests.factories import UserFactory
from tests.studio.assets.support import completed, project, uploaded
from tokens import catalog

# Uploads and jobs write files, and storage refuses to write inside a transaction.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("instant_studio")]

ASSET_TILE = re.compile(r'<li class="tile asset-tile" data-asset="([^"]+)"')
PROJECT_CARD = re.compile(r'<li class="project-card" data-project="([^"]+)"')


@pytest.fixture
def user():
    return UserFactory(credits=500)


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def asset_tiles(response) -> list[str]:
    return ASSET_TILE.findall(html(response))


# --- Sign-in and ownership -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/assets/", "/assets/ast_1/", "/projects/", "/projects/prj_1/?show=generations"]
)
def test_anonymous_visitors_are_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/login/?next={path.split('?')[0]}")


def test_another_users_asset_and_project_are_404_pages(client, user_api):
    asset = uploaded(user_api, filename="mine.png")
    board = project(user_api, "Mine")
    client.force_login(UserFactory())
    for path in (f"/assets/{asset['id']}/", f"/projects/{board}/", f"/assets/?project={board}"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"<title>" in response.content and b"mine.png" not in response.content
    assert client.get("/assets/ast_doesnotexist/").status_code == 404
    assert client.get(f"/assets/{'x' * 500}/").status_code == 404


# --- The asset grid --------------------------------------------------------------------------


def test_no_assets_yet_is_an_empty_state_with_the_uploader_and_its_limits(page, settings):
    body = html(page.get("/assets/"))
    assert "No assets yet" in body
    assert "data-uploader" in body and 'accept="image/png,image/jpeg,image/webp"' in body
    assert "PNG, JPEG or WebP" in body
    assert f"{settings.UPLOAD_MAX_PIXELS / 1e6:g} million pixels" in body
    assert 'id="asset-grid"' in body and "Apply" not in body  # no filters over nothing


def test_uploads_and_results_are_listed_newest_first_with_their_project(page, user_api):
    board = project(user_api, "Posters")
    first = uploaded(user_api, filename="first.png")
    second = uploaded(user_api, filename="second.png", project=board)
    generation = completed(user_api)
    result = Asset.objects.get(generation_id=generation)

    response = page.get("/assets/")
    assert asset_tiles(response) == [result.id, second["id"], first["id"]]
    body = html(response)
    assert "3 assets" in body
    tile = body[body.index(f'data-asset="{second["id"]}"') :]
    tile = tile[: tile.index("</li>")]
    assert "Upload" in tile and "Posters" in tile and "PNG" in tile
    assert "64 \N{MULTIPLICATION SIGN} 48" in tile
    assert f'href="/assets/{second["id"]}/"' in tile


def test_the_filters_narrow_the_grid_and_a_bad_one_is_reported_and_left_out(page, user_api):
    board = project(user_api, "Posters")
    filed = uploaded(user_api, filename="filed.png", project=board)
    loose = uploaded(user_api, filename="loose.png")
    generation = completed(user_api)
    result = Asset.objects.get(generation_id=generation).id

    assert asset_tiles(page.get("/assets/?kind=upload")) == [loose["id"], filed["id"]]
    assert asset_tiles(page.get("/assets/?kind=generated")) == [result]
    assert asset_tiles(page.get(f"/assets/?project={board}")) == [filed["id"]]
    assert asset_tiles(page.get("/assets/?project=none")) == [result, loose["id"]]
    assert "2 matches" in html(page.get("/assets/?project=none"))

    response = page.get(f"/assets/?kind=bogus&project={board}")
    assert asset_tiles(response) == [filed["id"]]  # the project still applies
    body = html(response)
    assert "Some filters could not be used" in body
    assert 'id="f-kind" name="kind" aria-invalid="true"' in body


def test_nothing_matching_and_past_the_end_have_their_own_empty_states(page, user_api):
    uploaded(user_api)
    body = html(page.get("/assets/?kind=generated"))
    assert "Nothing matches these filters" in body and "Show everything" in body
    body = html(page.get("/assets/?page=9"))
    assert "Nothing on this page" in body and "past the end" in body


def test_the_grid_is_paginated(page, user_api, monkeypatch):
    monkeypatch.setattr(sys.modules["studio.views.assets"], "PAGE_SIZE", 2)
    ids = [uploaded(user_api, filename=f"{n}.png")["id"] for n in range(5)][::-1]
    assert asset_tiles(page.get("/assets/")) == ids[:2]
    response = page.get("/assets/?page=3")
    assert asset_tiles(response) == ids[4:]
    assert "5 assets · page 3 of 3" in html(response)
    bad = page.get("/assets/?page=zero")
    assert asset_tiles(bad) == ids[:2] and "Showing the first page" in html(bad)


# --- One asset -------------------------------------------------------------------------------


def test_a_pictures_page_offers_each_operation_at_its_catalog_price(page, user_api):
    asset = uploaded(user_api, filename="cat.png")
    body = html(page.get(f"/assets/{asset['id']}/"))
    assert "cat.png" in body and f'href="/api/v1/assets/{asset["id"]}/download"' in body
    offered = re.findall(
        r'data-operation="(\d+)"[^>]*>.*?<span>([^<]+)</span><span class="cost">(\d+)', body
    )
    assert [(label, int(cost)) for _, label, cost in offered] == [
        (step.label, catalog.cost_of(step.operation)) for step in NEXT_STEPS
    ]
    assert "Delete this upload?" in body  # an upload may be deleted here


def test_an_svg_result_offers_no_operations_and_says_why(page, user_api):
    generation = completed(user_api)
    asset = Asset.objects.get(generation_id=generation)
    Asset.objects.filter(pk=asset.pk).update(content_type="image/svg+xml")
    body = html(page.get(f"/assets/{asset.id}/"))
    assert "data-operation=" not in body
    assert "Operations work on pictures (PNG, JPEG or WebP); this file is SVG." in body
    assert "Delete this upload?" not in body  # a job's file goes with its generation
    assert f'href="/gallery/{generation}/"' in body


# --- Projects --------------------------------------------------------------------------------


def test_no_projects_yet_is_an_empty_state_that_offers_to_create_one(page):
    body = html(page.get("/projects/"))
    assert "No projects yet" in body and "Create your first project" in body
    assert 'id="project-dialog"' in body


def test_the_board_shows_each_project_with_its_counts_and_covers(page, user_api):
    empty = project(user_api, "Empty")
    full = project(user_api, "Posters")
    uploaded(user_api, project=full)
    uploaded(user_api, project=full)
    completed(user_api, project=full)

    response = page.get("/projects/")
    body = html(response)
    assert PROJECT_CARD.findall(body) == [full, empty]
    card = body[body.index(f'data-project="{full}"') :]
    card = card[: card.index("</li>")]
    # The job's result is an asset of the project as well as its generation.
    assert "3 assets" in card and "1 generation<" in card
    assert card.count("<img ") == 3 and "covers-3" in card
    assert "project-cover-empty" in body[body.index(f'data-project="{empty}"') :]
    assert "2 projects" in body


def test_a_projects_page_has_its_assets_and_generations_tabs(page, user_api):
    board = project(user_api, "Posters")
    other = project(user_api, "Elsewhere")
    upload = uploaded(user_api, project=board)
    generation = completed(user_api, project=board)

    body = html(page.get(f"/projects/{board}/"))
    assert 'data-project-page="' + board + '"' in body and "Posters" in body
    assert upload["id"] in ASSET_TILE.findall(body)
    # Moving goes elsewhere: the project itself is no choice in its own move bar.
    move = body[body.index('id="move-to"') : body.index("</select>", body.index('id="move-to"'))]
    assert other in move and board not in move
    assert 'type="hidden" data-upload-project value="' + board + '"' in body

    body = html(page.get(f"/projects/{board}/?show=generations"))
    assert f'data-generation="{generation}"' in body
    assert 'aria-current="page">' in body.split("?show=generations")[1][:40]


def test_an_empty_project_says_how_to_fill_each_tab(page, user_api):
    board = project(user_api, "Empty")
    assert "No assets in this project yet" in html(page.get(f"/projects/{board}/"))
    body = html(page.get(f"/projects/{board}/?show=generations"))
    assert "No generations in this project yet" in body and "Save into" in body


def test_someone_elses_project_is_no_choice_anywhere(page, user_api):
    theirs = project(login(APIClient(), UserFactory()), "Not yours")
    mine = project(user_api, "Mine")
    asset = uploaded(user_api)
    for path in ("/assets/", f"/assets/{asset['id']}/", f"/projects/{mine}/"):
        body = html(page.get(path))
        assert theirs not in body and "Not yours" not in body, path
