"""Listing, reading and downloading assets; someone else's asset is as absent as a missing
one."""

from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from studio.models import Asset
from tests.conftest import assert_error
from tests.fakes.images import encode
from tests.studio.assets.support import (
    ASSETS,
    MOVE,
    completed,
    fetch,
    key_of,
    money,
    picture,
    png,
    project,
    stored,
    submit,
    uploaded,
)

# Uploads write files, and storage refuses to write inside a transaction: no test-wide one.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("instant_studio")]


def test_get_one_asset(user_api):
    body = uploaded(user_api, png(32, 16), "strip.png")

    response = user_api.get(f"{ASSETS}/{body['id']}")

    assert response.status_code == 200
    fetched = response.json()
    assert {k: fetched[k] for k in ("id", "name", "width", "height", "size", "kind")} == {
        k: body[k] for k in ("id", "name", "width", "height", "size", "kind")
    }
    assert fetched["createdAt"].endswith("Z")


def test_the_list_is_paginated_newest_first(user_api):
    ids = [uploaded(user_api, png(), f"{n}.png")["id"] for n in range(5)]

    first = user_api.get(ASSETS, {"limit": 2}).json()
    last = user_api.get(ASSETS, {"limit": 2, "page": 3}).json()
    past = user_api.get(ASSETS, {"limit": 2, "page": 4}).json()

    assert [a["id"] for a in first["assets"]] == ids[::-1][:2]
    assert first["pagination"] == {
        "page": 1,
        "limit": 2,
        "total": 5,
        "pages": 3,
        "hasNext": True,
        "hasPrev": False,
    }
    assert [a["id"] for a in last["assets"]] == [ids[0]]
    assert last["pagination"]["hasNext"] is False and last["pagination"]["hasPrev"] is True
    assert past["assets"] == [] and past["pagination"]["total"] == 5


def test_a_completed_generation_is_listed_as_a_generated_asset(user_api, user, media_storage):
    upload_id = uploaded(user_api)["id"]
    generation_id = completed(user_api)

    generated = user_api.get(ASSETS, {"kind": "generated"}).json()
    uploads = user_api.get(ASSETS, {"kind": "upload"}).json()

    assert [a["generation"] for a in generated["assets"]] == [generation_id]
    asset = generated["assets"][0]
    assert asset["kind"] == "generated" and asset["content_type"] == "image/png"
    assert (asset["width"], asset["height"]) == (16, 16)  # what the instant provider makes
    assert key_of(asset["url"]).startswith(f"users/{user.pk}/generations/{generation_id}/")
    assert fetch(asset["url"]) == (media_storage / key_of(asset["url"])).read_bytes()
    assert [a["id"] for a in uploads["assets"]] == [upload_id]
    assert user_api.get(ASSETS).json()["pagination"]["total"] == 2


def test_a_queued_generation_is_not_an_asset_yet(user_api):
    submit(user_api)
    assert user_api.get(ASSETS).json()["assets"] == []


def test_the_list_filters_by_project_or_none(user_api):
    board, other = project(user_api, "A"), project(user_api, "B")
    in_board = uploaded(user_api, project=board)["id"]
    in_other = uploaded(user_api, project=other)["id"]
    loose = uploaded(user_api)["id"]
    generated = completed(user_api, project=board)

    def listed(**query) -> set[str]:
        response = user_api.get(ASSETS, query)
        assert response.status_code == 200, response.content
        return {a["id"] for a in response.json()["assets"]}

    generated_asset = Asset.objects.get(generation_id=generated).id
    assert listed(project=board) == {in_board, generated_asset}
    assert listed(project=board, kind="upload") == {in_board}
    assert listed(project=other) == {in_other}
    assert listed(project="none") == {loose}
    assert listed() == {in_board, in_other, loose, generated_asset}


def test_the_list_filter_on_someone_elses_project_is_404(user_api, stranger):
    theirs = project(stranger)
    uploaded(stranger, project=theirs)

    assert_error(user_api.get(ASSETS, {"project": theirs}), 404, "NOT_FOUND")
    assert_error(user_api.get(ASSETS, {"project": "prj_nope"}), 404, "NOT_FOUND")


def test_the_list_shows_only_the_users_own_assets(user_api, stranger):
    mine = uploaded(user_api)["id"]
    uploaded(stranger)

    assert [a["id"] for a in user_api.get(ASSETS).json()["assets"]] == [mine]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"kind": "video"}, "kind"),
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"page": 0}, "page"),
        ({"page": "two"}, "page"),
    ],
)
def test_bad_list_parameters_are_400_naming_the_field(user_api, query, field):
    assert_error(user_api.get(ASSETS, query), 400, "INVALID_REQUEST", field=field)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/assets/{id}", None),
        ("patch", "/api/v1/assets/{id}", {"name": "mine now"}),
        ("delete", "/api/v1/assets/{id}", None),
        ("get", "/api/v1/assets/{id}/download", None),
        ("post", "/api/v1/assets/move", {"ids": ["{id}"], "project": None}),
    ],
)
def test_someone_elses_asset_is_404_everywhere_and_stays_as_it_was(
    user_api, user, stranger, media_storage, method, path, body
):
    board = project(stranger)
    theirs = uploaded(stranger, project=board)
    files, before = stored(media_storage), money(user)
    if body and "ids" in body:
        body = {**body, "ids": [theirs["id"]]}

    response = getattr(user_api, method)(path.format(id=theirs["id"]), body, format="json")

    assert_error(response, 404, "NOT_FOUND")
    assert "Location" not in response
    row = Asset.objects.get(pk=theirs["id"])
    assert (row.name, row.project_id) == (theirs["name"], board)
    assert stored(media_storage) == files
    assert money(user) == before


def test_a_missing_asset_is_404(user_api):
    assert_error(user_api.get(f"{ASSETS}/ast_000000000000000000000000"), 404, "NOT_FOUND")
    assert_error(user_api.delete(f"{ASSETS}/ast_000000000000000000000000"), 404, "NOT_FOUND")


def test_the_asset_endpoints_need_a_login(api):
    for response in (
        api.get(ASSETS),
        api.get(f"{ASSETS}/ast_x"),
        api.post(MOVE, {}, format="json"),
    ):
        assert_error(response, 401, "UNAUTHORIZED")


def test_download_redirects_to_a_signed_url_that_serves_the_file_as_an_attachment(
    user_api, media_storage
):
    asset = uploaded(user_api, png(), "cover.png", name="Cover art")

    response = user_api.get(f"{ASSETS}/{asset['id']}/download")

    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    location = response["Location"]
    assert location.startswith("http://testserver/media/")
    assert key_of(location) == key_of(asset["url"])
    assert parse_qs(urlsplit(location).query)["f"] == ["Cover art.png"]
    served = APIClient().get(location)
    assert served.status_code == 200
    assert served["Content-Disposition"] == 'attachment; filename="Cover art.png"'
    assert served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == (media_storage / key_of(location)).read_bytes()


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("photo.jpeg", "JPEG", "photo.jpeg"),
        ("photo.png", "JPEG", "photo.png.jpg"),  # the name says PNG; the file is a JPEG
        ('a/b\\c"d', "PNG", "a_b_c_d.png"),
    ],
)
def test_the_download_name_is_safe_and_ends_in_the_files_extension(user_api, name, data, expected):
    asset = uploaded(user_api, encode(picture(), data), "x", name=name)

    location = user_api.get(f"{ASSETS}/{asset['id']}/download")["Location"]

    assert parse_qs(urlsplit(location).query)["f"] == [expected]
    assert APIClient().get(location).status_code == 200


def test_a_generated_asset_downloads_too(user_api, media_storage):
    generation_id = completed(user_api)
    asset = Asset.objects.get(generation_id=generation_id)

    location = user_api.get(f"{ASSETS}/{asset.pk}/download")["Location"]

    served = APIClient().get(location)
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == (media_storage / asset.key).read_bytes()
