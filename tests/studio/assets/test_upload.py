"""Uploads accepted: checked by content, upright, without metadata; on disk and on a real S3
server."""

import pytest
import requests
from PIL import PngImagePlugin
from rest_framework.test import APIClient

from studio.models import Asset, AssetKind
from tests.conftest import assert_error
from tests.fakes.images import ORIENTATION, encode, exif_with, png_bomb
from tests.studio.assets.support import (
    ASSETS,
    decode,
    fetch,
    key_of,
    money,
    picture,
    png,
    project,
    stored,
    upload,
    uploaded,
)

# Uploads write files, and storage refuses to write inside a transaction: no test-wide one.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("instant_studio")]


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
    body = assert_error(upload(user_api, png(101, 1)), 400, "INVALID_REQUEST", field="file")

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
    body = assert_error(upload(user_api, data), 413, "PAYLOAD_TOO_LARGE", field="file")

    assert body["details"]["limit"] == len(data) - 1
    assert stored(media_storage) == files


def test_upload_into_a_project_files_it_there(user_api):
    board = project(user_api)

    body = uploaded(user_api, png(), project=board)

    assert body["project"] == board
    assert Asset.objects.get(pk=body["id"]).project_id == board
    listed = user_api.get(ASSETS, {"project": board}).json()["assets"]
    assert [a["id"] for a in listed] == [body["id"]]


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
    assert_error(upload(user_api, png_bomb()), 400, "INVALID_REQUEST", field="file")
    assert_error(upload(user_api, b""), 400, "INVALID_REQUEST", field="file")
    assert s3_storage.keys() == []
