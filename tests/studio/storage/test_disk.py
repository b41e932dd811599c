"""Media storage on disk (the embedded mode): exact keys, folders, transactions, outages."""

import pytest
from django.db import connection, transaction

from core.exceptions import DomainError
from studio import storage
from tests.studio.storage.support import assert_backoff, png


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
