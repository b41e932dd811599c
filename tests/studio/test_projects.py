"""Projects (boards) through the API: create, list, read, update, delete (moving the contents
out, or deleting them with their files), duplicate (copying the assets' files), and the
`project` field of generations; another user's project is a 404 everywhere."""

import pytest

from studio.models import Asset, AssetKind, Generation, Project, Status
from studio.services.projects import DUPLICATE_MAX_ASSETS
from tests.conftest import assert_error
from tests.studio.assets.support import (
    completed,
    encode,
    fetch,
    key_of,
    make_disk_flaky,
    money,
    picture,
    png,
    stored,
    submit,
    uploaded,
)
from tokens.audit import ledger_audit

# Uploads and jobs write files, and storage refuses to write inside a transaction.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("instant_studio")]

PROJECTS = "/api/v1/projects"


def create(api, name: str = "Brand refresh", **fields) -> dict:
    response = api.post(PROJECTS, {"name": name, **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def counts(api, project_id: str) -> tuple[int, int]:
    body = api.get(f"{PROJECTS}/{project_id}").json()
    return body["assetCount"], body["generationCount"]


# --- Create, list, read, update ------------------------------------------------------------------


def test_create_returns_the_project_with_empty_counts(user_api, user):
    response = user_api.post(
        PROJECTS, {"name": "  Autumn campaign ", "description": "Leaves"}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"].startswith("prj_")
    assert (body["name"], body["description"]) == ("Autumn campaign", "Leaves")
    assert (body["assetCount"], body["generationCount"]) == (0, 0)
    assert body["createdAt"].endswith("Z") and body["updatedAt"].endswith("Z")
    row = Project.objects.get(pk=body["id"])
    assert (row.user, row.name, row.description) == (user, "Autumn campaign", "Leaves")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"name": None}, "name"),
        ({"name": "ok", "description": "d" * 2001}, "description"),
    ],
)
def test_bad_projects_are_400_naming_the_field_and_create_nothing(user_api, body, field):
    assert_error(user_api.post(PROJECTS, body, format="json"), 400, "INVALID_REQUEST", field=field)
    assert not Project.objects.exists()


def test_the_longest_name_and_description_are_accepted(user_api):
    body = create(user_api, "n" * 200, description="d" * 2000)
    assert len(body["name"]) == 200 and len(body["description"]) == 2000


def test_the_list_is_paginated_newest_first_with_counts_and_only_the_users_own(user_api, stranger):
    ids = [create(user_api, f"Board {n}")["id"] for n in range(3)]
    create(stranger, "Not yours")
    uploaded(user_api, project=ids[1])
    uploaded(user_api, project=ids[1])
    submit(user_api, project=ids[1])

    first = user_api.get(PROJECTS, {"limit": 2})
    second = user_api.get(PROJECTS, {"limit": 2, "page": 2}).json()

    assert first.status_code == 200
    body = first.json()
    assert [p["id"] for p in body["projects"]] == [ids[2], ids[1]]
    assert body["pagination"] == {
        "page": 1,
        "limit": 2,
        "total": 3,
        "pages": 2,
        "hasNext": True,
        "hasPrev": False,
    }
    assert [(p["assetCount"], p["generationCount"]) for p in body["projects"]] == [(0, 0), (2, 1)]
    assert [p["id"] for p in second["projects"]] == [ids[0]]
    assert second["pagination"]["hasPrev"] is True
    assert_error(user_api.get(PROJECTS, {"limit": 101}), 400, "INVALID_REQUEST", field="limit")


def test_counts_follow_what_is_filed_and_moved(user_api):
    board = create(user_api)["id"]
    assert counts(user_api, board) == (0, 0)

    asset = uploaded(user_api, project=board)["id"]
    uploaded(user_api, project=board)
    generation_id = completed(user_api, project=board)  # its output is an asset here too
    submit(user_api, project=board)

    assert counts(user_api, board) == (3, 2)
    moved = user_api.post(
        "/api/v1/assets/move", {"ids": [asset, generation_id], "project": None}, format="json"
    )
    assert moved.json() == {"moved": 2}
    assert counts(user_api, board) == (1, 1)


def test_put_changes_the_name_and_or_description(user_api):
    project = create(user_api, "Draft", description="first")
    path = f"{PROJECTS}/{project['id']}"

    renamed = user_api.put(path, {"name": " Final "}, format="json")
    assert renamed.status_code == 200, renamed.content
    assert (renamed.json()["name"], renamed.json()["description"]) == ("Final", "first")

    described = user_api.put(path, {"description": ""}, format="json")
    assert (described.json()["name"], described.json()["description"]) == ("Final", "")
    assert described.json()["updatedAt"] >= project["updatedAt"]
    row = Project.objects.get(pk=project["id"])
    assert (row.name, row.description) == ("Final", "")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "non_field_errors"),
        ({"name": ""}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"description": "d" * 2001}, "description"),
    ],
)
def test_bad_updates_are_400_naming_the_field_and_change_nothing(user_api, body, field):
    project = create(user_api, "Draft")

    response = user_api.put(f"{PROJECTS}/{project['id']}", body, format="json")

    assert_error(response, 400, "INVALID_REQUEST", field=field)
    assert Project.objects.get(pk=project["id"]).name == "Draft"


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("put", "", {"name": "Mine now"}),
        ("delete", "", None),
        ("delete", "?delete_contents=true", None),
        ("post", "/duplicate", None),
    ],
)
def test_someone_elses_project_is_404_everywhere_and_stays_as_it_was(
    user_api, user, stranger, media_storage, method, suffix, body
):
    theirs = create(stranger, "Their board")
    asset = uploaded(stranger, project=theirs["id"])
    files, before = stored(media_storage), money(user)

    response = getattr(user_api, method)(f"{PROJECTS}/{theirs['id']}{suffix}", body, format="json")

    assert_error(response, 404, "NOT_FOUND")
    assert Project.objects.get(pk=theirs["id"]).name == "Their board"
    assert Project.objects.count() == 1
    assert Asset.objects.get(pk=asset["id"]).project_id == theirs["id"]
    assert stored(media_storage) == files
    assert money(user) == before


def test_a_missing_project_is_404(user_api):
    assert_error(user_api.get(f"{PROJECTS}/prj_nope"), 404, "NOT_FOUND")
    assert_error(user_api.delete(f"{PROJECTS}/prj_nope"), 404, "NOT_FOUND")


def test_projects_need_a_login(api):
    assert_error(api.get(PROJECTS), 401, "UNAUTHORIZED")
    assert_error(api.post(PROJECTS, {"name": "x"}, format="json"), 401, "UNAUTHORIZED")
    assert not Project.objects.exists()


# --- Generations filed into projects -------------------------------------------------------------


def test_a_generation_can_be_filed_into_a_project_and_its_output_follows(user_api):
    board = create(user_api)["id"]

    generation_id = completed(user_api, project=board)

    assert Generation.objects.get(pk=generation_id).project_id == board
    assets = user_api.get("/api/v1/assets", {"project": board}).json()["assets"]
    assert [(a["generation"], a["kind"]) for a in assets] == [(generation_id, "generated")]


def test_a_video_can_be_filed_into_a_project(user_api):
    board = create(user_api)["id"]
    response = user_api.post(
        "/api/v1/studio/generate-video",
        {"prompt": "Waves on a pier", "duration": 3, "fps": 8, "project": board},
        format="json",
    )
    assert response.status_code == 202, response.content
    assert Generation.objects.get(pk=response.json()["id"]).project_id == board


def test_generating_into_someone_elses_project_is_404_and_charges_nothing(user_api, user, stranger):
    theirs = create(stranger)["id"]
    before = money(user)

    response = user_api.post(
        "/api/v1/studio/generate-image",
        {"prompt": "A lighthouse at dawn", "project": theirs},
        format="json",
    )

    assert_error(response, 404, "NOT_FOUND")
    assert not Generation.objects.exists()
    assert money(user) == before


# --- Delete --------------------------------------------------------------------------------------


def test_delete_moves_the_contents_out_and_keeps_their_files(user_api, user, media_storage):
    board = create(user_api)["id"]
    asset = uploaded(user_api, project=board)
    generation_id = completed(user_api, project=board)
    queued = submit(user_api, project=board)
    files, before = stored(media_storage), money(user)

    response = user_api.delete(f"{PROJECTS}/{board}")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "message": "Project deleted successfully",
        "moved": {"assets": 2, "generations": 2},
        "deleted": {"assets": 0, "generations": 0},
    }
    assert not Project.objects.filter(pk=board).exists()
    assert Asset.objects.get(pk=asset["id"]).project_id is None
    assert Asset.objects.get(generation_id=generation_id).project_id is None
    assert Generation.objects.get(pk=generation_id).project_id is None
    assert Generation.objects.get(pk=queued).status == Status.QUEUED  # left running
    assert stored(media_storage) == files
    assert fetch(asset["url"]) == (media_storage / key_of(asset["url"])).read_bytes()
    assert money(user) == before
    assert_error(user_api.get(f"{PROJECTS}/{board}"), 404, "NOT_FOUND")


def test_delete_contents_deletes_them_with_their_files_and_refunds_running_jobs(
    user_api, user, media_storage
):
    board, other = create(user_api, "Doomed")["id"], create(user_api, "Kept")["id"]
    doomed_upload = uploaded(user_api, project=board)
    doomed_generation = completed(user_api, project=board)
    doomed_queued = submit(user_api, project=board)
    kept_upload = uploaded(user_api, project=other)
    loose_generation = completed(user_api)
    # A generation's asset filed here on its own: only deleting its generation deletes it.
    elsewhere = Asset.objects.get(generation_id=loose_generation)
    filed = user_api.patch(f"/api/v1/assets/{elsewhere.pk}", {"project": board}, format="json")
    assert filed.status_code == 200, filed.content
    balance_before, held_before, _ = money(user)
    assert held_before == 4  # the queued job's hold

    response = user_api.delete(f"{PROJECTS}/{board}?delete_contents=true")

    assert response.status_code == 200, response.content
    assert response.json()["deleted"] == {"assets": 2, "generations": 2}
    assert response.json()["moved"] == {"assets": 1, "generations": 0}
    assert not Project.objects.filter(pk=board).exists()
    assert not Asset.objects.filter(pk=doomed_upload["id"]).exists()
    assert not Generation.objects.filter(pk__in=[doomed_generation, doomed_queued]).exists()
    files = stored(media_storage)
    assert not [f for f in files if f"/assets/{doomed_upload['id']}/" in f]
    assert not [f for f in files if f"/generations/{doomed_generation}/" in f]
    assert key_of(kept_upload["url"]) in files
    assert elsewhere.key in files and Asset.objects.get(pk=elsewhere.pk).project_id is None
    assert Asset.objects.get(pk=kept_upload["id"]).project_id == other
    assert money(user)[:2] == (balance_before, 0)  # the queued job's hold was released
    assert ledger_audit() == []


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_a_bad_delete_contents_is_400_and_deletes_nothing(user_api, value):
    board = create(user_api)["id"]
    uploaded(user_api, project=board)

    response = user_api.delete(f"{PROJECTS}/{board}?delete_contents={value}")

    assert_error(response, 400, "INVALID_REQUEST", field="delete_contents")
    assert Project.objects.filter(pk=board).exists()
    assert Asset.objects.filter(project_id=board).count() == 1


# --- Duplicate -----------------------------------------------------------------------------------


def test_duplicate_copies_the_assets_into_new_files(user_api, user, media_storage):
    source = create(user_api, "Lookbook", description="Spring")
    first = uploaded(user_api, png(40, 30), "one.png", project=source["id"])
    second = uploaded(user_api, encode(picture(), "JPEG"), "two.jpg", project=source["id"])
    generation_id = completed(user_api, project=source["id"])
    generated = Asset.objects.get(generation_id=generation_id)
    files_before = stored(media_storage)

    response = user_api.post(f"{PROJECTS}/{source['id']}/duplicate")

    assert response.status_code == 201, response.content
    copy = response.json()
    assert copy["id"] != source["id"]
    assert (copy["name"], copy["description"]) == ("Lookbook (copy)", "Spring")
    assert (copy["assetCount"], copy["generationCount"]) == (3, 0)  # generations stay behind
    copies = list(Asset.objects.filter(project_id=copy["id"]))
    originals = {a.name: a for a in Asset.objects.filter(project_id=source["id"])}
    assert sorted(a.name for a in copies) == sorted(originals)
    for duplicate in copies:
        original = originals[duplicate.name]
        assert duplicate.pk not in {first["id"], second["id"], generated.pk}
        assert duplicate.kind == AssetKind.UPLOAD and duplicate.generation_id is None
        assert duplicate.key.startswith(f"users/{user.pk}/assets/{duplicate.pk}/original.")
        assert duplicate.key.rsplit(".", 1)[1] == original.key.rsplit(".", 1)[1]
        assert (media_storage / duplicate.key).read_bytes() == (
            media_storage / original.key
        ).read_bytes()
        assert (duplicate.content_type, duplicate.width, duplicate.height, duplicate.size) == (
            original.content_type,
            original.width,
            original.height,
            original.size,
        )
        assert (media_storage / duplicate.thumbnail_key).is_file()
    assert set(files_before) < set(stored(media_storage))
    assert len(stored(media_storage)) == len(files_before) + 6  # an original and a thumbnail each
    assert counts(user_api, source["id"]) == (3, 1)

    # The copies are independent: deleting the copy and its contents leaves the originals.
    deleted = user_api.delete(f"{PROJECTS}/{copy['id']}?delete_contents=true")
    assert deleted.json()["deleted"] == {"assets": 3, "generations": 0}
    assert stored(media_storage) == files_before


def test_a_storage_outage_while_duplicating_is_503_and_leaves_nothing_behind(
    user_api, settings, media_storage
):
    source = create(user_api, "Lookbook")["id"]
    uploaded(user_api, png(), "first.png", project=source)  # copied first, and fine
    uploaded(user_api, encode(picture(), "JPEG"), "second.jpg", project=source)
    files = stored(media_storage)
    make_disk_flaky(settings, media_storage, fail_on="original.jpg")

    response = user_api.post(f"{PROJECTS}/{source}/duplicate")

    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert list(Project.objects.values_list("pk", flat=True)) == [source]
    assert Asset.objects.count() == 2
    assert stored(media_storage) == files


def test_duplicating_an_empty_project_makes_an_empty_copy(user_api):
    source = create(user_api, "Empty")

    copy = user_api.post(f"{PROJECTS}/{source['id']}/duplicate").json()

    assert copy["name"] == "Empty (copy)"
    assert (copy["assetCount"], copy["generationCount"]) == (0, 0)


def test_the_copys_name_stays_within_the_limit(user_api):
    source = create(user_api, "n" * 200)

    copy = user_api.post(f"{PROJECTS}/{source['id']}/duplicate").json()

    assert len(copy["name"]) == 200 and copy["name"].endswith("n (copy)")


def test_duplicating_a_project_over_the_limit_is_409_and_copies_nothing(
    user_api, user, media_storage
):
    source = create(user_api, "Huge")["id"]
    first = uploaded(user_api, project=source)
    template = Asset.objects.get(pk=first["id"])
    # Rows sharing the first upload's file: the refusal must come before any file is read.
    Asset.objects.bulk_create(
        Asset(
            id=f"ast_bulk{n:020d}",
            user=user,
            project_id=source,
            kind=AssetKind.UPLOAD,
            name=f"{n}.png",
            key=template.key,
            thumbnail_key=template.thumbnail_key,
            content_type=template.content_type,
            size=template.size,
        )
        for n in range(DUPLICATE_MAX_ASSETS + 4)
    )
    files = stored(media_storage)

    response = user_api.post(f"{PROJECTS}/{source}/duplicate")

    body = assert_error(response, 409, "PROJECT_TOO_LARGE")
    assert body["details"] == {"assets": DUPLICATE_MAX_ASSETS + 5, "limit": DUPLICATE_MAX_ASSETS}
    assert list(Project.objects.values_list("pk", flat=True)) == [source]
    assert stored(media_storage) == files


def test_duplicating_a_project_at_the_limit_works(user_api, user, media_storage):
    source = create(user_api, "Full")["id"]
    first = uploaded(user_api, project=source)
    template = Asset.objects.get(pk=first["id"])
    Asset.objects.bulk_create(
        Asset(
            id=f"ast_bulk{n:020d}",
            user=user,
            project_id=source,
            kind=AssetKind.UPLOAD,
            name=f"{n}.png",
            key=template.key,
            thumbnail_key=template.thumbnail_key,
            content_type=template.content_type,
            size=template.size,
        )
        for n in range(DUPLICATE_MAX_ASSETS - 1)
    )

    response = user_api.post(f"{PROJECTS}/{source}/duplicate")

    assert response.status_code == 201, response.content
    assert response.json()["assetCount"] == DUPLICATE_MAX_ASSETS
    copies = Asset.objects.filter(project_id=response.json()["id"])
    assert len({c.key for c in copies}) == DUPLICATE_MAX_ASSETS  # a file of its own each
    assert all((media_storage / c.key).is_file() for c in copies)
