"""Media storage on a real S3 server (SeaweedFS): exact keys, signed URLs, the lean PUT,
outages and wrong keys."""

import datetime
from urllib.parse import parse_qs, urlsplit, urlunsplit

import botocore.auth
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.httpsession import get_cert_path
from django.core.files.storage import storages

from studio import imaging, storage
from studio.s3_put import LeanPut, lean_put_for
from studio.s3_put import client_error as lean_client_error
from tests.studio.storage.support import assert_backoff, png


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
