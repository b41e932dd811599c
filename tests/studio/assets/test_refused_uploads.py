"""Uploads refused (not an image, truncated, a decompression bomb, empty, a GIF, too large,
someone else's project): a clear 4xx, nothing stored, nothing charged."""

import pytest
from PIL import ImageFile
from rest_framework.parsers import MultiPartParser

from studio.models import Asset
from tests.conftest import assert_error
from tests.fakes.images import encode, png_bomb
from tests.studio.assets.support import (
    UPLOAD,
    make_disk_flaky,
    money,
    noisy_png,
    picture,
    png,
    project,
    stored,
    upload,
    uploaded,
)
from tokens.audit import ledger_audit

# Uploads write files, and storage refuses to write inside a transaction: no test-wide one.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("instant_studio")]


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

    body = assert_error(response, 400, "INVALID_REQUEST", field="file")
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

    body = assert_error(upload(user_api, png_bomb()), 400, "INVALID_REQUEST", field="file")

    assert (body["details"]["width"], body["details"]["height"]) == (10_000, 10_000)
    assert stored(media_storage) == []


def test_a_file_over_20_mb_is_413_and_nothing_is_stored_or_charged(
    user_api, user, settings, media_storage
):
    assert settings.UPLOAD_MAX_BYTES == 20 * 2**20
    data = png() + b"\x00" * (settings.UPLOAD_MAX_BYTES + 1 - len(png()))
    before = money(user)

    body = assert_error(upload(user_api, data), 413, "PAYLOAD_TOO_LARGE", field="file")

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
    assert_error(no_file, 400, "INVALID_REQUEST", field="file")
    not_a_file = user_api.post(UPLOAD, {"file": "just text"}, format="multipart")
    assert_error(not_a_file, 400, "INVALID_REQUEST", field="file")
    long_name = upload(user_api, png(), name="n" * 256)
    assert_error(long_name, 400, "INVALID_REQUEST", field="name")
    assert stored(media_storage) == []


def test_upload_as_json_is_415(user_api, media_storage):
    response = user_api.post(UPLOAD, {"file": "iVBORw0KGgo="}, format="json")
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_upload_without_a_login_is_401_and_nothing_is_stored(api, media_storage):
    assert_error(upload(api, png()), 401, "UNAUTHORIZED")
    assert stored(media_storage) == []
    assert not Asset.objects.exists()
