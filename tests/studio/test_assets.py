"""Assets through the API: uploads (checked by content, upright, without metadata, nothing
stored or charged when refused), listing, reading, renaming, filing, deleting, downloading
and moving; on disk (the embedded mode) and one round trip on a real S3 server.

Generations run by calling the actor's body (generation_run), as in test_generations.py.
"""

import errno
import io
import random
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageFile, PngImagePlugin
from rest_framework.parsers import MultiPartParser
from rest_framework.test import APIClient

from studio.models import Asset, AssetKind, Generation, Project
from studio.services.execution import generation_run
from tests.fakes.images import ORIENTATION, encode, exif_with, png_bomb
from tokens.audit import ledger_audit
from tokens.models import LedgerEntry

# Uploads write files, and storage refuses to write inside a transaction: no test-wide one.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("instant_studio")]

UPLOAD = "/api/v1/assets/upload"
ASSETS = "/api/v1/assets"
MOVE = "/api/v1/assets/move"
IMAGE = "/api/v1/studio/generate-image"
ERROR_KEYS = {"error", "code", "details", "timestamp", "requestId"}


class FlakyDisk(FileSystemStorage):
    """A disk whose writes fail for names containing `fail_on`: an outage half-way through."""

    def __init__(self, *, fail_on: str, **options):
        super().__init__(**options)
        self.fail_on = fail_on

    def _save(self, name, content):
        if self.fail_on in name:
            raise OSError(errno.EIO, "Input/output error", name)
        return super()._save(name, content)


def make_disk_flaky(settings, root: Path, fail_on: str) -> None:
    """From now on, writes of names containing `fail_on` fail (and are not retried)."""
    settings.STORAGE_RETRIES = 0
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": f"{__name__}.FlakyDisk",
            "OPTIONS": {"location": str(root), "base_url": "/media/", "fail_on": fail_on},
        },
    }


# --- Pictures ------------------------------------------------------------------------------------


def picture(width: int = 64, height: int = 48) -> Image.Image:
    """Left half red, right half blue: where the red ends up shows how it was turned."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width // 2, height))
    return image


def png(width: int = 64, height: int = 48) -> bytes:
    return encode(picture(width, height), "PNG")


def noisy_png(width: int = 64, height: int = 48) -> bytes:
    """A PNG whose pixel data fills most of the file (so cutting it cuts pixels)."""
    pixels = random.Random(width * height).randbytes(width * height * 3)
    return encode(Image.frombytes("RGB", (width, height), pixels), "PNG")


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- Helpers -------------------------------------------------------------------------------------


def upload(api, data: bytes, filename: str = "photo.png", content_type: str = "image/png", **form):
    """POST a multipart upload; `form` holds the other fields (project, name)."""
    file = SimpleUploadedFile(filename, data, content_type=content_type)
    return api.post(UPLOAD, {"file": file, **form}, format="multipart")


def uploaded(api, data: bytes | None = None, filename: str = "photo.png", **form) -> dict:
    """Upload and insist it worked; the asset as the API shows it."""
    response = upload(api, png() if data is None else data, filename, **form)
    assert response.status_code == 201, response.content
    return response.json()


def stored(root: Path) -> list[str]:
    """Every file under the media root, as storage keys."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def money(user) -> tuple[int, int, int]:
    """Balance, held, and how many ledger entries the user's account has."""
    account = user.token_account
    account.refresh_from_db()
    return account.balance, account.held, LedgerEntry.objects.filter(account=account).count()


def fetch(url: str) -> bytes:
    """The bytes a signed local media URL serves (no credentials needed)."""
    response = APIClient().get(url)
    assert response.status_code == 200, url
    return b"".join(response.streaming_content)


def key_of(url: str) -> str:
    """The storage key a local media URL points at."""
    return urlsplit(url).path.removeprefix("/media/")


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    """The standard error format with this status and code (and `field` in its details)."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["code"] == code
    assert body["error"] and body["timestamp"] and body["requestId"]
    assert response["X-Request-ID"] == body["requestId"]
    if field is not None:
        assert field in body["details"], body
    return body


def submit(api, **fields) -> str:
    """Queue an image generation; its id."""
    response = api.post(IMAGE, {"prompt": "A lighthouse at dawn", **fields}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def completed(api, **fields) -> str:
    """A generation run to completion (its output is then an asset too)."""
    generation_id = submit(api, **fields)
    generation_run(generation_id=generation_id)
    assert Generation.objects.get(pk=generation_id).status == "completed"
    return generation_id


def project(api, name: str = "Brand refresh") -> str:
    response = api.post("/api/v1/projects", {"name": name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


# --- Upload: accepted ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "options", "content_type", "extension"),
    [
        ("PNG", {}, "image/png", "png"),
        ("JPEG", {"quality": 90}, "image/jpeg", "jpg"),
        ("WEBP", {"quality": 90}, "image/webp", "webp"),
        ("WEBP", {"lossless": True}, "image/webp", "webp"),
    ],
)
def test_png_jpeg_and_webp_are_stored_with_their_dimensions_and_a_thumbnail(
    user_api, user, media_storage, fmt, options, content_type, extension
):
    data = encode(picture(640, 480), fmt, **options)
    before = money(user)

    response = upload(user_api, data, f"shot.{extension}", content_type)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"].startswith("ast_")
    assert body["kind"] == "upload" and body["generation"] is None and body["project"] is None
    assert (body["content_type"], body["width"], body["height"]) == (content_type, 640, 480)
    assert body["name"] == f"shot.{extension}"
    prefix = f"users/{user.pk}/assets/{body['id']}/"
    assert stored(media_storage) == [f"{prefix}original.{extension}", f"{prefix}thumbnail.webp"]
    assert key_of(body["url"]) == f"{prefix}original.{extension}"
    assert key_of(body["thumbnail_url"]) == f"{prefix}thumbnail.webp"
    original = (media_storage / prefix / f"original.{extension}").read_bytes()
    assert body["size"] == len(original)
    assert decode(original).format == fmt and decode(original).size == (640, 480)
    thumbnail = decode((media_storage / prefix / "thumbnail.webp").read_bytes())
    assert thumbnail.format == "WEBP" and thumbnail.size == (512, 384)
    row = Asset.objects.get(pk=body["id"])
    assert (row.user, row.kind, row.width, row.height) == (user, AssetKind.UPLOAD, 640, 480)
    assert money(user) == before  # uploading costs nothing


def test_the_signed_urls_serve_the_stored_bytes_without_a_login(user_api, media_storage):
    body = uploaded(user_api, png(), "logo.png")

    original = fetch(body["url"])
    thumbnail = fetch(body["thumbnail_url"])

    assert original == (media_storage / key_of(body["url"])).read_bytes()
    assert decode(original).size == (64, 48)
    assert thumbnail == (media_storage / key_of(body["thumbnail_url"])).read_bytes()
    tampered = body["url"].replace("s=", "s=0")
    assert APIClient().get(tampered).status_code == 403


def test_the_name_defaults_to_the_file_name_and_can_be_given(user_api):
    assert uploaded(user_api, png(), "holiday.png")["name"] == "holiday.png"
    assert uploaded(user_api, png(), "holiday.png", name="  Cover art ")["name"] == "Cover art"


def test_an_exif_rotated_jpeg_is_stored_upright_without_any_exif(user_api, media_storage):
    # Orientation 6: the camera was turned; viewers rotate the picture 90 degrees clockwise.
    data = encode(picture(80, 40), "JPEG", quality=95, exif=exif_with(orientation=6))
    assert decode(data).getexif()[ORIENTATION] == 6

    body = uploaded(user_api, data, "portrait.jpg")

    assert (body["width"], body["height"]) == (40, 80)
    raw = (media_storage / key_of(body["url"])).read_bytes()
    image = decode(raw)
    assert image.size == (40, 80)
    red, blue = image.getpixel((20, 10)), image.getpixel((20, 70))  # the left half is on top
    assert red[0] > 200 and red[2] < 60, red
    assert blue[2] > 200 and blue[0] < 60, blue
    assert not image.getexif() and "exif" not in image.info
    assert b"Exif" not in raw and b"Canon" not in raw


def test_png_metadata_is_stripped(user_api, media_storage):
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "Jane Doe, 221B Baker Street")
    data = encode(picture(), "PNG", pnginfo=text, exif=exif_with())

    body = uploaded(user_api, data, "scan.png")

    raw = (media_storage / key_of(body["url"])).read_bytes()
    assert b"Baker Street" not in raw and b"Canon" not in raw
    image = decode(raw)
    assert not image.getexif() and "Author" not in image.info


def test_a_jpeg_named_png_is_stored_as_the_jpeg_it_is(user_api, user, media_storage):
    body = uploaded(user_api, encode(picture(), "JPEG"), "actually-a.png")

    assert body["content_type"] == "image/jpeg"
    assert stored(media_storage)[0].endswith(f"{body['id']}/original.jpg")


def test_an_image_at_the_pixel_limit_is_accepted_and_one_pixel_more_is_refused(
    user_api, settings, media_storage
):
    settings.UPLOAD_MAX_PIXELS = 100

    assert uploaded(user_api, png(10, 10))["width"] == 10
    files = stored(media_storage)
    body = assert_error(upload(user_api, png(101, 1)), 400, "INVALID_REQUEST", "file")

    assert "101x1" in body["error"]
    assert stored(media_storage) == files


def test_a_file_at_the_size_limit_is_accepted_and_one_byte_more_is_413(
    user_api, settings, media_storage
):
    data = png()
    settings.UPLOAD_MAX_BYTES = len(data)
    assert uploaded(user_api, data)["size"] > 0
    files = stored(media_storage)

    settings.UPLOAD_MAX_BYTES = len(data) - 1
    body = assert_error(upload(user_api, data), 413, "PAYLOAD_TOO_LARGE", "file")

    assert body["details"]["limit"] == len(data) - 1
    assert stored(media_storage) == files


def test_upload_into_a_project_files_it_there(user_api):
    board = project(user_api)

    body = uploaded(user_api, png(), project=board)

    assert body["project"] == board
    assert Asset.objects.get(pk=body["id"]).project_id == board
    listed = user_api.get(ASSETS, {"project": board}).json()["assets"]
    assert [a["id"] for a in listed] == [body["id"]]


# --- Upload: refused, with nothing stored and nothing charged ------------------------------------


@pytest.mark.parametrize(
    ("case", "data", "filename", "content_type", "words"),
    [
        ("text renamed .png", b"Dear diary,\nnot a picture.\n" * 20, "x.png", "image/png", "Not a"),
        ("truncated PNG", noisy_png(200, 150)[:20_000], "cut.png", "image/png", "truncated"),
        ("100-megapixel bomb", png_bomb(), "bomb.png", "image/png", "100.0 million pixels"),
        ("0-byte file", b"", "empty.png", "image/png", "empty"),
        ("GIF", encode(picture(), "GIF"), "anim.gif", "image/gif", "GIF"),
        ("SVG", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "x.svg", "image/svg+xml", "Not a"),
    ],
)
def test_a_file_that_is_not_a_usable_image_is_400_and_nothing_is_stored_or_charged(
    user_api, user, media_storage, case, data, filename, content_type, words
):
    uploaded(user_api, png(), "already-there.png")  # a listing that is not empty to start with
    files, assets, before = stored(media_storage), Asset.objects.count(), money(user)

    response = upload(user_api, data, filename, content_type)

    body = assert_error(response, 400, "INVALID_REQUEST", "file")
    assert words in body["error"], body
    assert body["details"]["file"] == [body["error"]]
    assert stored(media_storage) == files
    assert Asset.objects.count() == assets
    assert money(user) == before
    assert ledger_audit() == []


def test_a_bomb_is_refused_before_a_pixel_is_decoded(user_api, media_storage, monkeypatch):
    # The refusal comes from the header: decoding 10000 x 10000 would need 300 MB.
    def no_decoding(self, *args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)

    body = assert_error(upload(user_api, png_bomb()), 400, "INVALID_REQUEST", "file")

    assert (body["details"]["width"], body["details"]["height"]) == (10_000, 10_000)
    assert stored(media_storage) == []


def test_a_file_over_20_mb_is_413_and_nothing_is_stored_or_charged(
    user_api, user, settings, media_storage
):
    assert settings.UPLOAD_MAX_BYTES == 20 * 2**20
    data = png() + b"\x00" * (settings.UPLOAD_MAX_BYTES + 1 - len(png()))
    before = money(user)

    body = assert_error(upload(user_api, data), 413, "PAYLOAD_TOO_LARGE", "file")

    assert body["error"] == "The file is 20,971,521 bytes; the limit is 20,971,520 bytes (20 MB)"
    assert stored(media_storage) == []
    assert not Asset.objects.exists()
    assert money(user) == before


def test_a_request_far_over_the_limit_is_413_before_it_is_read(
    user_api, settings, media_storage, monkeypatch
):
    settings.UPLOAD_MAX_BYTES = 1000

    def unread(*args, **kwargs):
        raise AssertionError("the body was parsed")

    monkeypatch.setattr(MultiPartParser, "parse", unread)

    body = assert_error(upload(user_api, png() * 2000), 413, "PAYLOAD_TOO_LARGE")

    assert body["error"] == "The request is larger than the 1000 bytes limit"
    assert body["details"]["limit"] == 1000
    assert stored(media_storage) == []


def test_a_storage_outage_half_way_is_503_and_leaves_no_file_behind(
    user_api, user, settings, media_storage
):
    kept = uploaded(user_api)
    files, before = stored(media_storage), money(user)
    make_disk_flaky(settings, media_storage, fail_on="thumbnail")  # the original is written

    response = upload(user_api, png(), "lost.png")

    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert stored(media_storage) == files
    assert list(Asset.objects.values_list("pk", flat=True)) == [kept["id"]]
    assert money(user) == before


def test_upload_into_someone_elses_project_is_404_and_nothing_is_stored(
    user_api, user, stranger, media_storage
):
    theirs = project(stranger, "Their board")
    before = money(user)

    for project_id in (theirs, "prj_missing"):
        assert_error(upload(user_api, png(), project=project_id), 404, "NOT_FOUND")

    assert stored(media_storage) == []
    assert not Asset.objects.exists()
    assert money(user) == before


def test_upload_without_a_file_is_400_naming_the_field(user_api, media_storage):
    no_file = user_api.post(UPLOAD, {"name": "x"}, format="multipart")
    assert_error(no_file, 400, "INVALID_REQUEST", "file")
    not_a_file = user_api.post(UPLOAD, {"file": "just text"}, format="multipart")
    assert_error(not_a_file, 400, "INVALID_REQUEST", "file")
    long_name = upload(user_api, png(), name="n" * 256)
    assert_error(long_name, 400, "INVALID_REQUEST", "name")
    assert stored(media_storage) == []


def test_upload_as_json_is_415(user_api, media_storage):
    response = user_api.post(UPLOAD, {"file": "iVBORw0KGgo="}, format="json")
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_upload_without_a_login_is_401_and_nothing_is_stored(api, media_storage):
    assert_error(upload(api, png()), 401, "UNAUTHORIZED")
    assert stored(media_storage) == []
    assert not Asset.objects.exists()


# --- Reading and listing -------------------------------------------------------------------------


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
    assert_error(user_api.get(ASSETS, query), 400, "INVALID_REQUEST", field)


# --- Someone else's asset ------------------------------------------------------------------------


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


# --- Changes -------------------------------------------------------------------------------------


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

    assert_error(response, 400, "INVALID_REQUEST", field)
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


# --- Download ------------------------------------------------------------------------------------


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


# --- Move ----------------------------------------------------------------------------------------


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
    assert_error(user_api.post(MOVE, body, format="json"), 400, "INVALID_REQUEST", field)


# --- On a real S3 server -------------------------------------------------------------------------


@pytest.mark.s3
def test_upload_and_download_round_trip_on_s3(user_api, user, s3_storage, media_storage):
    data = encode(picture(300, 200), "JPEG", quality=90, exif=exif_with(orientation=3))

    body = uploaded(user_api, data, "trip.jpg", name="Road trip")

    prefix = f"users/{user.pk}/assets/{body['id']}/"
    assert s3_storage.keys(prefix) == [f"{prefix}original.jpg", f"{prefix}thumbnail.webp"]
    assert stored(media_storage) == []  # nothing went to the local disk
    assert body["url"].startswith(f"{s3_storage.endpoint_url}/{s3_storage.bucket}/{prefix}")
    client = s3_storage.client()
    original = client.get_object(Bucket=s3_storage.bucket, Key=f"{prefix}original.jpg")
    assert original["ContentType"] == "image/jpeg"
    stored_bytes = original["Body"].read()
    assert len(stored_bytes) == body["size"]
    assert not decode(stored_bytes).getexif()

    redirect = user_api.get(f"{ASSETS}/{body['id']}/download")
    assert redirect.status_code == 302
    assert redirect["Location"].startswith(f"{s3_storage.endpoint_url}/{s3_storage.bucket}/")
    served = requests.get(redirect["Location"], timeout=10)
    assert served.status_code == 200
    assert served.content == stored_bytes
    assert served.headers["Content-Disposition"] == 'attachment; filename="Road trip.jpg"'
    assert requests.get(body["thumbnail_url"], timeout=10).status_code == 200

    assert user_api.delete(f"{ASSETS}/{body['id']}").status_code == 200
    assert s3_storage.keys(prefix) == []


@pytest.mark.s3
def test_a_refused_upload_stores_nothing_on_s3(user_api, s3_storage):
    assert_error(upload(user_api, png_bomb()), 400, "INVALID_REQUEST", "file")
    assert_error(upload(user_api, b""), 400, "INVALID_REQUEST", "file")
    assert s3_storage.keys() == []
