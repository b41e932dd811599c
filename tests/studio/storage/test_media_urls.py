"""Signed local media URLs, served by the app (the embedded mode)."""

import time

import pytest
from django.conf import settings
from django.urls import path

from studio import storage
from studio.media_views import serve_media
from tests.studio.storage.support import png, split

# The view tests use this module as their URLconf: the media view alone.
urlpatterns = [path("media/<path:key>", serve_media, name="media")]


@pytest.mark.urls(__name__)
def test_signed_media_url_serves_the_file_with_its_type_and_a_private_cache(
    media_storage, client, prefix
):
    key = f"{prefix}original.png"
    data = png()
    storage.put(key, data, "image/png")

    url = storage.url_for(key)
    response = client.get(url)

    assert url.startswith(f"/media/{key}?")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "image/png"
    max_age = int(response["Cache-Control"].removeprefix("private, max-age="))
    assert 3590 <= max_age <= 3600 + storage.URL_STEP  # the expiry rounds up a little
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("thumbnail.webp", "image/webp"),
        ("video.mp4", "video/mp4"),
        ("vector.svg", "image/svg+xml"),
        ("metadata.json", "application/json"),
    ],
)
def test_media_types_follow_the_key(media_storage, client, prefix, name, content_type):
    storage.put(prefix + name, b"content", content_type)

    response = client.get(storage.url_for(prefix + name, expires=60))

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    if name.endswith(".svg"):
        assert "sandbox" in response["Content-Security-Policy"]


@pytest.mark.urls(__name__)
def test_media_url_with_a_filename_is_a_download(media_storage, client, prefix):
    storage.put(f"{prefix}original.png", png(), "image/png")

    response = client.get(storage.url_for(f"{prefix}original.png", filename="sunset.png"))

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="sunset.png"'


@pytest.mark.urls(__name__)
def test_tampered_or_missing_signatures_are_refused(media_storage, client, prefix):
    storage.put(f"{prefix}original.png", png(), "image/png")
    storage.put(f"{prefix}other.png", png(), "image/png")
    path, query = split(storage.url_for(f"{prefix}original.png"))
    flipped = query["s"][:-1] + ("0" if query["s"][-1] != "0" else "1")

    attempts = [
        (path, {**query, "s": flipped}),
        (path, {**query, "e": str(int(query["e"]) + 3600)}),  # a longer life
        (path, {**query, "f": "renamed.png"}),  # a download name it was not signed for
        (path.replace("original.png", "other.png"), query),  # another file
        (path, {"e": query["e"]}),
        (path, {"s": query["s"]}),
        (path, {}),
    ]
    for attempt_path, params in attempts:
        response = client.get(attempt_path, params)
        assert response.status_code == 403, (attempt_path, params)


@pytest.mark.urls(__name__)
def test_expired_media_url_is_refused(media_storage, client, prefix):
    key = f"{prefix}original.png"
    storage.put(key, png(), "image/png")

    response = client.get(storage.signed_media_url(key, int(time.time()) - 1))

    assert response.status_code == 403


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    "key", ["../secret.txt", "users/../../secret.txt", "%2e%2e/secret.txt", "/secret.txt"]
)
def test_media_paths_cannot_leave_media_root(media_storage, client, tmp_path, key):
    (tmp_path / "secret.txt").write_text("secret")
    expires_at = int(time.time()) + 60
    # Even a correctly signed traversal (which url_for refuses to make) finds nothing.
    signature = storage.media_signature(key.replace("%2e", "."), expires_at)

    response = client.get(f"/media/{key}", {"e": expires_at, "s": signature})

    assert response.status_code == 404


@pytest.mark.urls(__name__)
def test_media_symlink_out_of_media_root_is_not_served(media_storage, client, tmp_path):
    (tmp_path / "secret.txt").write_text("secret")
    (media_storage / "users").mkdir()
    (media_storage / "users" / "leak.txt").symlink_to(tmp_path / "secret.txt")

    response = client.get(storage.signed_media_url("users/leak.txt", int(time.time()) + 60))

    assert response.status_code == 404


@pytest.mark.urls(__name__)
def test_signed_url_for_a_deleted_file_is_404(media_storage, client, prefix):
    storage.put(f"{prefix}original.png", png(), "image/png")
    url = storage.url_for(f"{prefix}original.png")
    storage.delete_prefix(prefix)

    assert client.get(url).status_code == 404


@pytest.mark.urls(__name__)
def test_video_byte_ranges_are_served_partially(media_storage, client, prefix):
    key = f"{prefix}video.mp4"
    data = bytes(range(256)) * 40
    storage.put(key, data, "video/mp4")
    url = storage.url_for(key)

    first = client.get(url, HTTP_RANGE="bytes=0-99")
    tail = client.get(url, HTTP_RANGE="bytes=-10")
    rest = client.get(url, HTTP_RANGE="bytes=10000-")
    beyond = client.get(url, HTTP_RANGE=f"bytes={len(data)}-")

    assert first.status_code == 206
    assert b"".join(first.streaming_content) == data[:100]
    assert first["Content-Range"] == f"bytes 0-99/{len(data)}"
    assert first["Content-Length"] == "100"
    assert first["Content-Type"] == "video/mp4"
    assert b"".join(tail.streaming_content) == data[-10:]
    assert b"".join(rest.streaming_content) == data[10000:]
    assert beyond.status_code == 416
    assert beyond["Content-Range"] == f"bytes */{len(data)}"


@pytest.mark.urls(__name__)
def test_media_view_is_404_when_s3_holds_the_media(settings, client, s3_settings_unreachable):
    settings.STORAGES = {**settings.STORAGES, "default": s3_settings_unreachable}
    expires_at = int(time.time()) + 60
    key = "users/1/generations/1/original.png"

    response = client.get(
        f"/media/{key}", {"e": expires_at, "s": storage.media_signature(key, expires_at)}
    )

    assert response.status_code == 404


def test_default_media_urls_are_stable_for_minutes_so_browsers_can_cache_them(media_storage):
    first, second = storage.url_for("users/u/a.webp"), storage.url_for("users/u/a.webp")
    assert first == second
    expires_at = int(first.split("e=")[1].split("&")[0])
    assert expires_at % storage.URL_STEP == 0
    lifetime = expires_at - time.time()
    assert (
        settings.MEDIA_URL_EXPIRY <= lifetime + 1 < settings.MEDIA_URL_EXPIRY + storage.URL_STEP + 1
    )
