"""Renaming, filing, deleting and moving assets.

Generations run by calling the actor's body (generation_run), as in test_generations.py.
"""

import pytest
from rest_framework.test import APIClient

from studio.models import Asset, Generation, Project
from tests.conftest import assert_error
from tests.studio.assets.support import (
    ASSETS,
    MOVE,
    completed,
    key_of,
    project,
    stored,
    submit,
    uploaded,
)

# Uploads write files, and storage refuses to write inside a transaction: no test-wide one.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("instant_studio")]


def test_patch_renames(user_api):
    asset = uploaded(user_api, filename="IMG_0001.png")

    response = user_api.patch(f"{ASSETS}/{asset['id']}", {"name": " Hero shot "}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Hero shot"
    assert response.json()["project"] is None
    assert Asset.objects.get(pk=asset["id"]).name == "Hero shot"


def test_patch_files_into_a_project_and_out_again(user_api):
    board = project(user_api)
    asset = uploaded(user_api, filename="a.png")
    path = f"{ASSETS}/{asset['id']}"

    filed = user_api.patch(path, {"project": board}, format="json")
    assert filed.status_code == 200, filed.content
    assert filed.json()["project"] == board and filed.json()["name"] == "a.png"
    assert Asset.objects.get(pk=asset["id"]).project_id == board

    renamed = user_api.patch(path, {"name": "b"}, format="json")  # leaves the project alone
    assert renamed.json()["project"] == board

    unfiled = user_api.patch(path, {"project": None}, format="json")
    assert unfiled.status_code == 200
    assert unfiled.json()["project"] is None
    assert Asset.objects.get(pk=asset["id"]).project_id is None


def test_patch_into_someone_elses_project_is_404_and_changes_nothing(user_api, stranger):
    theirs = project(stranger)
    asset = uploaded(user_api, filename="a.png")

    response = user_api.patch(
        f"{ASSETS}/{asset['id']}", {"name": "moved", "project": theirs}, format="json"
    )

    assert_error(response, 404, "NOT_FOUND")
    row = Asset.objects.get(pk=asset["id"])
    assert (row.name, row.project_id) == ("a.png", None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "non_field_errors"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "n" * 256}, "name"),
        ({"project": ""}, "project"),
        ({"project": "p" * 65}, "project"),
        ({"name": None}, "name"),
    ],
)
def test_bad_patches_are_400_naming_the_field(user_api, body, field):
    asset = uploaded(user_api, filename="a.png")

    response = user_api.patch(f"{ASSETS}/{asset['id']}", body, format="json")

    assert_error(response, 400, "INVALID_REQUEST", field=field)
    assert Asset.objects.get(pk=asset["id"]).name == "a.png"


def test_delete_removes_the_row_and_its_files(user_api, user, media_storage):
    keep = uploaded(user_api, filename="keep.png")
    asset = uploaded(user_api, filename="gone.png")

    response = user_api.delete(f"{ASSETS}/{asset['id']}")

    assert response.status_code == 200
    assert response.json() == {"message": "Asset deleted successfully"}
    assert not Asset.objects.filter(pk=asset["id"]).exists()
    assert not (media_storage / f"users/{user.pk}/assets/{asset['id']}").exists()
    assert stored(media_storage) == [key_of(keep["url"]), key_of(keep["thumbnail_url"])]
    assert APIClient().get(asset["url"]).status_code == 404
    assert_error(user_api.delete(f"{ASSETS}/{asset['id']}"), 404, "NOT_FOUND")


def test_deleting_a_generated_asset_is_409_and_keeps_it(user_api, media_storage):
    generation_id = completed(user_api)
    asset = Asset.objects.get(generation_id=generation_id)
    files = stored(media_storage)

    response = user_api.delete(f"{ASSETS}/{asset.pk}")

    body = assert_error(response, 409, "ASSET_BELONGS_TO_GENERATION")
    assert body["details"] == {"generation": generation_id}
    assert Asset.objects.filter(pk=asset.pk).exists()
    assert stored(media_storage) == files


def test_deleting_the_generation_takes_its_asset_along(user_api, media_storage):
    generation_id = completed(user_api)

    assert user_api.delete(f"/api/v1/users/generation/{generation_id}").status_code == 200

    assert not Asset.objects.filter(generation_id=generation_id).exists()
    assert user_api.get(ASSETS).json()["assets"] == []
    assert stored(media_storage) == []


def test_move_files_assets_and_generations_with_their_assets_together(user_api):
    board = project(user_api)
    first, second = uploaded(user_api)["id"], uploaded(user_api)["id"]
    generation_id = completed(user_api)
    queued = submit(user_api)

    response = user_api.post(
        MOVE,
        {"ids": [first, second, generation_id, queued, first], "project": board},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"moved": 4}
    assert set(Asset.objects.filter(project_id=board).values_list("pk", flat=True)) == {
        first,
        second,
        Asset.objects.get(generation_id=generation_id).pk,
    }
    assert set(Generation.objects.filter(project_id=board).values_list("pk", flat=True)) == {
        generation_id,
        queued,
    }

    out = user_api.post(MOVE, {"ids": [first, generation_id], "project": None}, format="json")

    assert out.json() == {"moved": 2}
    assert Asset.objects.get(pk=first).project_id is None
    assert Generation.objects.get(pk=generation_id).project_id is None
    assert Asset.objects.get(generation_id=generation_id).project_id is None
    assert Asset.objects.get(pk=second).project_id == board


@pytest.mark.parametrize("whose", ["stranger's asset", "stranger's generation", "missing"])
def test_move_is_all_or_nothing_naming_the_id_that_is_not_the_users(user_api, stranger, whose):
    board = project(user_api)
    mine = uploaded(user_api)["id"]
    generation_id = completed(user_api)
    foreign = {
        "stranger's asset": lambda: uploaded(stranger)["id"],
        "stranger's generation": lambda: submit(stranger),
        "missing": lambda: "ast_000000000000000000000000",
    }[whose]()

    response = user_api.post(
        MOVE, {"ids": [mine, generation_id, foreign], "project": board}, format="json"
    )

    body = assert_error(response, 404, "NOT_FOUND")
    assert body["details"] == {"id": foreign}
    assert not Asset.objects.filter(project_id=board).exists()
    assert not Generation.objects.filter(project_id=board).exists()
    assert not Asset.objects.filter(project__isnull=False).exists()


def test_move_into_someone_elses_project_is_404_and_moves_nothing(user_api, stranger):
    theirs = project(stranger)
    mine = uploaded(user_api)["id"]

    response = user_api.post(MOVE, {"ids": [mine], "project": theirs}, format="json")

    assert_error(response, 404, "NOT_FOUND")
    assert Asset.objects.get(pk=mine).project_id is None
    assert not Project.objects.get(pk=theirs).assets.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"project": None}, "ids"),
        ({"ids": [], "project": None}, "ids"),
        ({"ids": "ast_1", "project": None}, "ids"),
        ({"ids": ["ast_1"] * 101, "project": None}, "ids"),
        ({"ids": ["ast_1"]}, "project"),
        ({"ids": ["ast_1"], "project": ""}, "project"),
    ],
)
def test_bad_moves_are_400_naming_the_field(user_api, body, field):
    assert_error(user_api.post(MOVE, body, format="json"), 400, "INVALID_REQUEST", field=field)
