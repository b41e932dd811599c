"""Media storage: exact keys, signed URLs, outages and thumbnails, on a real S3 server
(SeaweedFS, tests marked `s3`) and on disk (the embedded mode, served by the app)."""

import datetime
import io
import time
import uuid
from urllib.parse import parse_qs, urlsplit, urlunsplit

import av
import botocore.auth
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.httpsession import get_cert_path
from django.core.files.storage import storages
from django.db import connection, transaction
from django.urls import path
from PIL import Image

from core.exceptions import DomainError
from studio import imaging, storage
from studio.media_views import serve_media
from studio.s3_put import LeanPut, lean_put_for
from studio.s3_put import client_error as lean_client_error
from tests.fakes.seaweed import free_ports

# Until config/urls.py routes /media/, the view tests use this module as their URLconf.
urlpatterns = [path("media/<path:key>", serve_media, name="media")]


def png(width: int = 64, height: int = 48, mode: str = "RGB", color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def mp4(width: int = 640, height: int = 360, frames: int = 6) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            image = Image.new("RGB", (width, height), (index * 40, 80, 160))
            frame = av.VideoFrame.from_image(image)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


@pytest.fixture
def prefix() -> str:
    """A generation's folder no other test uses."""
    return f"users/{uuid.uuid4().hex[:8]}/generations/1/"


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The backoff delays storage asked for, instead of waiting them out."""
    delays: list[float] = []
    monkeypatch.setattr(storage, "_sleep", delays.append)
    return delays


def assert_backoff(delays: list[float]) -> None:
    for attempt, delay in enumerate(delays):
        ceiling = min(storage.BACKOFF_MAX, storage.BACKOFF_BASE * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling


# --- On disk (embedded mode) -----------------------------------------------------------------


def test_put_writes_the_exact_key_under_media_root(media_storage, prefix):
    key = f"{prefix}original.png"
    data = png()

    storage.put(key, data, "image/png")

    assert (media_storage / key).read_bytes() == data
    assert storage.exists(key)
    assert storage.read(key) == data
    assert not storage.exists(f"{prefix}other.png")


def test_put_same_key_twice_replaces_the_file_without_a_renamed_copy(media_storage, prefix):
    key = f"{prefix}original.png"
    storage.put(key, b"first", "image/png")

    storage.put(key, b"second", "image/png")

    assert storage.read(key) == b"second"
    assert [p.name for p in (media_storage / prefix).iterdir()] == ["original.png"]


def test_read_of_a_missing_key_raises_file_not_found(media_storage, prefix):
    with pytest.raises(FileNotFoundError):
        storage.read(f"{prefix}missing.png")


def test_delete_prefix_removes_one_generation_and_nothing_else(media_storage):
    mine, neighbour = "users/7/generations/1/", "users/7/generations/10/"
    for name in ("original.png", "thumbnail.webp", "metadata.json"):
        storage.put(mine + name, b"x", "application/octet-stream")
    storage.put(neighbour + "original.png", b"y", "image/png")

    assert storage.delete_prefix(mine) == 3

    assert not (media_storage / mine).exists()
    assert storage.read(neighbour + "original.png") == b"y"
    assert storage.delete_prefix(mine) == 0


@pytest.mark.parametrize("bad", ["users/7", "../", "users/../../", "/etc/", "", "users//x/"])
def test_delete_prefix_refuses_anything_but_a_folder_inside_media_root(media_storage, bad):
    storage.put("users/7/original.png", b"x", "image/png")

    with pytest.raises(ValueError):
        storage.delete_prefix(bad)

    assert storage.exists("users/7/original.png")


def test_delete_prefix_does_not_follow_a_symlink_out_of_media_root(media_storage, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep")
    (media_storage / "users").mkdir()
    (media_storage / "users" / "link").symlink_to(outside)

    with pytest.raises(ValueError):
        storage.delete_prefix("users/link/")

    assert (outside / "precious.txt").read_text() == "keep"


def test_delete_removes_keys_and_ignores_missing_ones(media_storage, prefix):
    storage.put(f"{prefix}a.png", b"a", "image/png")
    storage.put(f"{prefix}b.png", b"b", "image/png")

    storage.delete([f"{prefix}a.png", f"{prefix}never-there.png"])

    assert not storage.exists(f"{prefix}a.png")
    assert storage.exists(f"{prefix}b.png")


@pytest.mark.parametrize(
    "key", ["../escape.png", "users/../../escape.png", "/abs.png", "a//b.png", "a\\b.png", ""]
)
def test_put_refuses_keys_that_could_leave_their_folder(media_storage, tmp_path, key):
    with pytest.raises(ValueError):
        storage.put(key, b"x", "image/png")

    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.django_db(transaction=True)
def test_put_inside_a_transaction_raises_and_writes_nothing(media_storage, prefix):
    key = f"{prefix}original.png"

    with transaction.atomic(), pytest.raises(RuntimeError, match="transaction"):
        storage.put(key, b"x", "image/png")
    with transaction.atomic(), pytest.raises(RuntimeError, match="transaction"):
        storage.delete_prefix(prefix)

    assert not storage.exists(key)


@pytest.mark.django_db(transaction=True)
def test_put_with_an_open_connection_outside_a_transaction_works(media_storage, prefix):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")

    storage.put(f"{prefix}original.png", b"x", "image/png")

    assert storage.exists(f"{prefix}original.png")


def test_disk_failure_retries_with_backoff_then_raises_storage_unavailable(
    media_storage, settings, sleeps, prefix
):
    settings.STORAGE_RETRIES = 3
    (media_storage / "users").write_text("a file where a folder should be")

    with pytest.raises(storage.StorageUnavailable) as raised:
        storage.put(f"{prefix}original.png", b"x", "image/png")

    assert len(sleeps) == 3  # three retries after the first attempt
    assert_backoff(sleeps)
    assert raised.value.details == {"attempts": 4}
    assert isinstance(raised.value, DomainError)
    assert (raised.value.code, raised.value.http_status) == ("SERVICE_UNAVAILABLE", 503)
    assert sorted(p.name for p in media_storage.rglob("*")) == ["users"]


def test_put_succeeds_when_the_disk_recovers_during_the_retries(media_storage, monkeypatch):
    blocker = media_storage / "users"
    blocker.write_text("a file where a folder should be")
    delays: list[float] = []

    def heal(delay: float) -> None:
        delays.append(delay)
        blocker.unlink()

    monkeypatch.setattr(storage, "_sleep", heal)

    storage.put("users/1/generations/2/original.png", b"data", "image/png")

    assert len(delays) == 1
    assert storage.read("users/1/generations/2/original.png") == b"data"


def test_backoff_doubles_and_is_bounded():
    for attempt in range(12):
        delay = storage.backoff(attempt)
        ceiling = min(5.0, 0.2 * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling <= 5.0


# --- Signed local media URLs, served by the app -----------------------------------------------


def split(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, {name: values[0] for name, values in parse_qs(parts.query).items()}


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
    assert 3590 <= max_age <= 3600
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


# --- On S3 (SeaweedFS) --------------------------------------------------------------------------


@pytest.fixture
def s3_settings_unreachable() -> dict:
    """S3 settings pointing at a port nothing listens on; botocore's own retries are off so
    the attempts counted are ours."""
    (port,) = free_ports(1)
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "craftframe-test",
            "endpoint_url": f"http://127.0.0.1:{port}",
            "access_key": "unused",
            "secret_key": "unused",
            "region_name": "us-east-1",
            "file_overwrite": False,
            "client_config": Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"total_max_attempts": 1},
                connect_timeout=1,
            ),
        },
    }


@pytest.mark.s3
def test_put_read_exists_on_s3(s3_storage, prefix):
    key = f"{prefix}original.png"
    data = png()

    storage.put(key, data, "image/png")

    assert s3_storage.keys(prefix) == [key]
    assert storage.exists(key)
    assert storage.read(key) == data
    assert not storage.exists(f"{prefix}other.png")
    head = s3_storage.client().head_object(Bucket=s3_storage.bucket, Key=key)
    assert head["ContentType"] == "image/png"


@pytest.mark.s3
def test_put_same_key_twice_on_s3_keeps_one_object(s3_storage, prefix):
    key = f"{prefix}original.png"
    storage.put(key, b"first", "image/png")

    storage.put(key, b"second", "image/png")

    assert s3_storage.keys(prefix) == [key]
    assert storage.read(key) == b"second"


@pytest.mark.s3
def test_read_of_a_missing_key_on_s3_raises_file_not_found(s3_storage, prefix):
    with pytest.raises(FileNotFoundError):
        storage.read(f"{prefix}missing.png")


@pytest.mark.s3
def test_delete_prefix_on_s3_removes_one_generation_and_nothing_else(s3_storage):
    mine, neighbour = "users/7/generations/1/", "users/7/generations/10/"
    for name in ("original.mp4", "thumbnail.webp", "metadata.json"):
        storage.put(mine + name, b"x", "application/octet-stream")
    storage.put(neighbour + "original.png", b"y", "image/png")

    assert storage.delete_prefix(mine) == 3

    assert s3_storage.keys("users/7/") == [neighbour + "original.png"]
    assert storage.delete_prefix(mine) == 0


@pytest.mark.s3
def test_delete_on_s3_removes_keys_and_ignores_missing_ones(s3_storage, prefix):
    storage.put(f"{prefix}a.png", b"a", "image/png")
    storage.put(f"{prefix}b.png", b"b", "image/png")

    storage.delete([f"{prefix}a.png", f"{prefix}never-there.png"])

    assert s3_storage.keys(prefix) == [f"{prefix}b.png"]


@pytest.mark.s3
def test_presigned_url_returns_the_bytes_and_content_type(s3_storage, prefix):
    key = f"{prefix}thumbnail.webp"
    data, _, _ = imaging.thumbnail_webp(png(800, 600))
    storage.put(key, data, "image/webp")

    url = storage.url_for(key)
    response = requests.get(url, timeout=10)

    assert url.startswith(f"{s3_storage.endpoint_url}/{s3_storage.bucket}/{key}?")
    assert "X-Amz-Signature=" in url
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["3600"]
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Content-Type"] == "image/webp"


@pytest.mark.s3
def test_presigned_url_with_a_filename_is_a_download(s3_storage, prefix):
    key = f"{prefix}original.png"
    storage.put(key, png(), "image/png")

    url = storage.url_for(key, expires=120, filename="sunset.png")
    response = requests.get(url, timeout=10)

    assert response.status_code == 200
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["120"]
    assert response.headers["Content-Disposition"] == 'attachment; filename="sunset.png"'


@pytest.mark.s3
def test_s3_refuses_tampered_unsigned_and_wrongly_keyed_requests(s3_storage, prefix):
    key = f"{prefix}original.png"
    storage.put(key, png(), "image/png")
    url = storage.url_for(key)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    signature = query["X-Amz-Signature"][0]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")

    tampered = requests.get(url.replace(signature, flipped), timeout=10)
    unsigned = requests.get(urlunsplit(parts._replace(query="")), timeout=10)
    other_key = requests.get(url.replace("original.png", "other.png"), timeout=10)

    assert tampered.status_code == 403
    assert unsigned.status_code == 403
    assert other_key.status_code == 403
    wrong_secret = s3_storage.client(secret_key="not-the-secret")
    with pytest.raises(ClientError) as denied:
        wrong_secret.get_object(Bucket=s3_storage.bucket, Key=key)
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.s3
def test_expired_presigned_url_is_refused(s3_storage, prefix, monkeypatch):
    key = f"{prefix}original.png"
    storage.put(key, png(), "image/png")
    # Sign as if it were two hours ago: a 60-second URL that expired long before the request,
    # without waiting. Only the signer's clock moves; the server checks against its own.
    real_now = botocore.auth.get_current_datetime
    monkeypatch.setattr(
        botocore.auth,
        "get_current_datetime",
        lambda remove_tzinfo=True: real_now(remove_tzinfo) - datetime.timedelta(hours=2),
    )
    url = storage.url_for(key, expires=60)
    monkeypatch.undo()

    response = requests.get(url, timeout=10)

    assert response.status_code == 403
    assert "expired" in response.text.lower()
    assert requests.get(storage.url_for(key, expires=60), timeout=10).status_code == 200


@pytest.mark.s3
def test_s3_outage_retries_then_raises_storage_unavailable_and_leaves_nothing(
    s3, settings, sleeps, prefix, s3_settings_unreachable
):
    settings.STORAGE_RETRIES = 2
    s3_settings_unreachable["OPTIONS"]["bucket_name"] = s3.bucket
    settings.STORAGES = {**settings.STORAGES, "default": s3_settings_unreachable}

    with pytest.raises(storage.StorageUnavailable) as raised:
        storage.put(f"{prefix}original.png", png(), "image/png")

    assert len(sleeps) == 2
    assert_backoff(sleeps)
    assert raised.value.details == {"attempts": 3}
    assert s3.keys(prefix) == []


@pytest.mark.s3
def test_s3_with_wrong_keys_fails_at_once_without_retrying(s3, settings, sleeps, prefix):
    # A rejected signature will not get better by retrying: no backoff, straight to failed.
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3.storages_settings(secret_key="not-the-secret"),
    }

    with pytest.raises(storage.StorageUnavailable):
        storage.put(f"{prefix}original.png", png(), "image/png")

    assert sleeps == []
    assert s3.keys(prefix) == []


@pytest.mark.s3
def test_s3_puts_take_the_lean_signed_path_and_keep_their_content_type(s3_storage, prefix):
    assert isinstance(lean_put_for(storages["default"]), LeanPut)
    items = [
        (f"{prefix}original.png", png(), "image/png"),
        (f"{prefix}thumbnail.webp", b"RIFF-not-really", "image/webp"),
        (f"{prefix}metadata.json", b'{"a": 1}', "application/json"),
    ]

    storage.put_many(items)

    assert s3_storage.keys(prefix) == sorted(key for key, _, _ in items)
    client = s3_storage.client()
    for key, data, content_type in items:
        assert client.head_object(Bucket=s3_storage.bucket, Key=key)["ContentType"] == content_type
        assert storage.read(key) == data


@pytest.mark.s3
def test_s3_keys_with_spaces_and_non_ascii_are_stored_exactly(s3_storage, prefix):
    key = f"{prefix}my café + logo (1).png"

    storage.put(key, b"bytes", "image/png")

    assert s3_storage.keys(prefix) == [key]
    assert storage.read(key) == b"bytes"


@pytest.mark.s3
def test_auto_addressing_falls_back_to_boto3_and_still_writes(s3, settings, prefix):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3.storages_settings(
            client_config=Config(signature_version="s3v4", s3={"addressing_style": "auto"})
        ),
    }
    assert lean_put_for(storages["default"]) is None

    storage.put(f"{prefix}original.png", b"via boto3", "image/png")

    assert storage.read(f"{prefix}original.png") == b"via boto3"
    s3.empty_bucket()


def test_lean_put_urls_follow_the_addressing_style():
    common = {"bucket": "media", "region": "eu-west-1", "credentials": None}
    path_style = LeanPut(endpoint="http://127.0.0.1:8333", style="path", **common)
    virtual = LeanPut(endpoint="https://s3.example.com", style="virtual", **common)

    assert (
        path_style.url("users/1/a b+c.png") == "http://127.0.0.1:8333/media/users/1/a%20b%2Bc.png"
    )
    assert virtual.url("users/1/x~y.png") == "https://media.s3.example.com/users/1/x~y.png"


@pytest.mark.parametrize(
    ("verify", "cert_reqs", "ca_certs"),
    [
        (None, "CERT_REQUIRED", get_cert_path(True)),
        (True, "CERT_REQUIRED", get_cert_path(True)),
        ("/etc/ssl/our-ca.pem", "CERT_REQUIRED", "/etc/ssl/our-ca.pem"),
        (False, "CERT_NONE", None),
    ],
)
def test_lean_put_checks_tls_as_boto3_would(verify, cert_reqs, ca_certs):
    writer = LeanPut(
        endpoint="https://s3.example.com",
        bucket="media",
        region="us-east-1",
        style="path",
        credentials=None,
        verify=verify,
    )

    assert writer.pool.connection_pool_kw["cert_reqs"] == cert_reqs
    assert writer.pool.connection_pool_kw.get("ca_certs") == ca_certs


@pytest.mark.parametrize(
    ("status", "body", "code", "transient"),
    [
        (503, b"<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>",
         "SlowDown", True),
        (500, b"", "500", True),
        (400, b"<Error><Code>RequestTimeout</Code></Error>", "RequestTimeout", True),
        (403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>", "SignatureDoesNotMatch",
         False),
        (404, b"<Error><Code>NoSuchBucket</Code></Error>", "NoSuchBucket", False),
    ],
)  # fmt: skip
def test_lean_put_errors_are_client_errors_retried_like_boto3s(status, body, code, transient):
    error = lean_client_error(status, body)

    assert isinstance(error, ClientError)
    assert error.response["Error"]["Code"] == code
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert storage._is_transient(error) is transient


# --- Thumbnails -------------------------------------------------------------------------------


def decode(webp: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(webp))
    image.load()
    assert image.format == "WEBP"
    return image


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1024, 512), (512, 256)), ((600, 1200), (256, 512)), ((2048, 2048), (512, 512))],
)
def test_thumbnail_fits_512_and_keeps_the_aspect_ratio(size, expected):
    data, width, height = imaging.thumbnail_webp(png(*size))

    assert (width, height) == expected
    assert decode(data).size == expected


def test_thumbnail_never_enlarges_a_small_picture():
    data, width, height = imaging.thumbnail_webp(png(100, 50))

    assert (width, height) == (100, 50)
    assert decode(data).size == (100, 50)


def test_thumbnail_keeps_transparency():
    data, _, _ = imaging.thumbnail_webp(png(800, 400, "RGBA", (10, 20, 30, 0)))

    image = decode(data)
    assert image.mode == "RGBA"
    assert image.getpixel((5, 5))[3] == 0


def test_thumbnail_of_something_that_is_no_image_is_a_value_error():
    with pytest.raises(ValueError):
        imaging.thumbnail_webp(b"<html>not a picture</html>")


def test_video_thumbnail_is_the_first_frame_scaled_down():
    data, width, height = imaging.video_thumbnail_webp(mp4(640, 360))

    assert (width, height) == (512, 288)
    image = decode(data)
    assert image.size == (512, 288)
    red, green, blue = image.convert("RGB").getpixel((256, 144))
    assert red < 20 and abs(green - 80) < 20 and abs(blue - 160) < 20  # frame 0's colour


def test_video_thumbnail_of_something_that_is_no_video_is_a_value_error():
    with pytest.raises(ValueError):
        imaging.video_thumbnail_webp(b"not a video")
