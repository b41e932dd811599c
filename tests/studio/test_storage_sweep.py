"""manage.py storage_sweep: stored files no row points to, older than the grace period, are
reported (dry run) or removed (--delete); referenced, young and foreign files never are."""

import io
import os
import time

import pytest
from django.core.management import CommandError, call_command

from studio import storage
from studio.models import Asset, AssetKind, Generation, Kind, Sample, Status, new_id
from studio.models import new_generation_id as gen_id
from studio.services import storage_sweep as sweep_module
from studio.services.storage_sweep import parse_grace, storage_sweep
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)  # storage writes refuse a transaction

DAY = 86400


@pytest.fixture(params=["media", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request):
    """Both backends: local media (FileSystemStorage) and S3 (SeaweedFS)."""
    request.getfixturevalue("media_storage" if request.param == "media" else "s3_storage")
    return request.param


def put(key: str, data: bytes = b"data") -> str:
    storage.put(key, data, "application/octet-stream")
    return key


def make_generation(user, *, status=Status.COMPLETED, attempt: int = 1) -> Generation:
    """A job with its files stored as the worker stores them (outputs, thumbnail, metadata)."""
    generation = Generation.objects.create(
        id=gen_id(Kind.IMAGE),
        user=user,
        kind=Kind.IMAGE,
        status=status,
        prompt="a lighthouse",
        enhanced_prompt="a lighthouse",
        model="local",
        seed=7,
        cost=1,
    )
    folder = f"{generation.storage_prefix}{attempt}/"
    if status == Status.COMPLETED:
        generation.outputs = [
            {"key": put(f"{folder}original.png"), "thumbnail_key": put(f"{folder}thumbnail.webp")}
        ]
        generation.metadata_key = put(f"{folder}metadata.json")
        generation.save(update_fields=["outputs", "metadata_key"])
    return generation


def make_upload(user) -> Asset:
    asset = Asset(id=new_id("ast"), user=user, kind=AssetKind.UPLOAD, content_type="image/png")
    asset.key = put(f"{asset.storage_prefix}original.png", b"12345")
    asset.thumbnail_key = put(f"{asset.storage_prefix}thumbnail.webp")
    asset.size = 5
    asset.save(force_insert=True)
    return asset


def sweep(*args: str) -> str:
    out = io.StringIO()
    call_command("storage_sweep", *args, stdout=out)
    return out.getvalue()


def test_dry_run_reports_the_orphan_and_deletes_nothing(backend):
    user = UserFactory()
    generation = make_generation(user)
    orphan = put(f"users/{user.id}/generations/{gen_id(Kind.IMAGE)}/1/original.png", b"x" * 11)

    output = sweep("--grace", "0")

    assert "would delete 1 orphan(s), 11 bytes" in output
    assert orphan in output
    assert "dry run: nothing deleted" in output
    assert storage.exists(orphan)
    assert all(storage.exists(output["key"]) for output in generation.outputs)


def test_delete_removes_orphans_and_only_them(backend):
    user = UserFactory()
    generation = make_generation(user, attempt=2)
    # A worker that lost its lease wrote attempt 1; the row names attempt 2's files.
    stale = put(f"{generation.storage_prefix}1/original.png", b"stale")
    gone_row = put(f"users/{user.id}/assets/{new_id('ast')}/original.png", b"gone")

    output = sweep("--delete", "--grace", "0")

    assert "deleted 2 orphan(s), 9 bytes" in output
    assert not storage.exists(stale)
    assert not storage.exists(gone_row)
    for key in (generation.metadata_key, *sweep_module.output_keys(generation.outputs)):
        assert storage.exists(key), key
    assert "deleted 0 orphan(s)" in sweep("--delete", "--grace", "0")


def test_every_kind_of_referenced_file_is_kept(backend, monkeypatch):
    monkeypatch.setattr(sweep_module, "BATCH", 2)  # several batches: each asks the database
    user = UserFactory()
    done = make_generation(user)
    upload = make_upload(user)
    generated = Asset.objects.create(
        id=new_id("ast"),
        user=user,
        kind=AssetKind.GENERATED,
        generation=done,
        key=done.outputs[0]["key"],
        thumbnail_key=done.outputs[0]["thumbnail_key"],
        content_type="image/png",
        size=4,
    )
    sample = Sample.objects.create(
        slug="harbour",
        prompt="a harbour",
        seed=1,
        key=put("samples/harbour/original.png"),
        thumbnail_key=put("samples/harbour/thumbnail.webp"),
        width=8,
        height=8,
    )
    # A running job writes its files before its row names them.
    running = make_generation(user, status=Status.GENERATING)
    in_flight = put(f"{running.storage_prefix}1/original.png")
    orphan = put("samples/removed/original.png")
    kept = [
        done.metadata_key,
        *sweep_module.output_keys(done.outputs),
        upload.key,
        upload.thumbnail_key,
        generated.key,
        sample.key,
        sample.thumbnail_key,
        in_flight,
    ]

    result = storage_sweep(grace=0, delete=True)

    assert result.scanned == len(set(kept)) + 1
    assert (result.orphans, result.examples) == (1, [orphan])
    assert not storage.exists(orphan)
    for key in kept:
        assert storage.exists(key), key


def test_grace_period_keeps_young_orphans(backend):
    orphan = put(f"users/{UserFactory().id}/assets/{new_id('ast')}/original.png")

    kept = storage_sweep(grace=parse_grace("1h"), delete=True)
    assert (kept.orphans, kept.young) == (0, 1)
    assert storage.exists(orphan)

    removed = storage_sweep(grace=0, delete=True)
    assert (removed.orphans, removed.young) == (1, 0)
    assert not storage.exists(orphan)


def test_on_disk_the_file_age_decides_against_the_default_grace(media_storage):
    folder = f"users/{UserFactory().id}/assets/{new_id('ast')}/"
    old, fresh = put(f"{folder}old.png"), put(f"{folder}fresh.png")
    two_days_ago = time.time() - 2 * DAY
    os.utime(storage.local_path(old), (two_days_ago, two_days_ago))
    nearly_a_day = time.time() - DAY + 600
    os.utime(storage.local_path(fresh), (nearly_a_day, nearly_a_day))

    output = sweep("--delete")  # default grace: 24h

    assert "deleted 1 orphan(s)" in output
    assert not storage.exists(old)
    assert storage.exists(fresh)


def test_setting_sets_the_default_grace(media_storage, settings):
    orphan = put(f"users/{UserFactory().id}/assets/{new_id('ast')}/original.png")
    hour_ago = time.time() - 3600
    os.utime(storage.local_path(orphan), (hour_ago, hour_ago))

    settings.STORAGE_SWEEP_GRACE = 2 * 3600
    assert "deleted 0 orphan(s)" in sweep("--delete")
    settings.STORAGE_SWEEP_GRACE = "30m"
    assert "deleted 1 orphan(s)" in sweep("--delete")
    assert not storage.exists(orphan)


def test_prefix_limits_the_sweep(backend):
    mine, theirs = UserFactory(), UserFactory()
    my_orphan = put(f"users/{mine.id}/assets/{new_id('ast')}/original.png")
    their_orphan = put(f"users/{theirs.id}/assets/{new_id('ast')}/original.png")

    result = storage_sweep(grace=0, prefix=f"users/{mine.id}", delete=True)

    assert (result.scanned, result.orphans) == (1, 1)
    assert not storage.exists(my_orphan)
    assert storage.exists(their_orphan)


@pytest.mark.parametrize("prefix", ["", "/", "other/", "../users/", "users/../etc/", "usersx/"])
def test_prefix_outside_the_project_namespaces_is_refused(media_storage, prefix):
    if not prefix:
        assert storage_sweep(grace=0, prefix=prefix).prefixes == sweep_module.ROOTS
        return
    with pytest.raises(CommandError):
        sweep("--prefix", prefix, "--delete", "--grace", "0")


@pytest.mark.parametrize("value", ["-1h", "soon", "1w", ""])
def test_unreadable_grace_is_refused(media_storage, value):
    with pytest.raises(CommandError):
        sweep(f"--grace={value}")


def test_grace_spellings():
    assert parse_grace("24h") == parse_grace("1d") == parse_grace(86400) == parse_grace("86400s")
    assert parse_grace("90m").total_seconds() == 5400
    assert parse_grace("2").total_seconds() == 7200  # typed: a bare number is hours
    assert parse_grace(2).total_seconds() == 2  # the setting's number: seconds
    with pytest.raises(ValueError):
        parse_grace(-5)


def test_files_outside_the_project_namespaces_are_never_touched(media_storage, tmp_path):
    user_folder = media_storage / "users" / str(UserFactory().id)
    user_folder.mkdir(parents=True)
    (media_storage / "notes.txt").write_text("not ours")
    (media_storage / "other").mkdir()
    (media_storage / "other" / "file.png").write_bytes(b"not ours")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.png").write_bytes(b"precious")
    (user_folder / "linked-folder").symlink_to(outside, target_is_directory=True)
    (user_folder / "linked-file.png").symlink_to(outside / "precious.png")

    result = storage_sweep(grace=0, delete=True)

    assert (result.scanned, result.orphans) == (0, 0)
    assert (outside / "precious.png").read_bytes() == b"precious"
    assert (user_folder / "linked-file.png").is_symlink()
    assert (media_storage / "notes.txt").exists()
    assert (media_storage / "other" / "file.png").exists()


@pytest.mark.s3
def test_s3_sweep_stays_inside_the_location_and_pages_through_listings(s3, settings, monkeypatch):
    settings.STORAGES = {**settings.STORAGES, "default": s3.storages_settings(location="craft")}
    monkeypatch.setattr(storage, "LIST_PAGE", 2)  # five keys take three listing requests
    client = s3.client()
    foreign = ["users/someone/assets/a/original.png", "elsewhere/users/x.png"]
    try:
        for key in foreign:
            client.put_object(Bucket=s3.bucket, Key=key, Body=b"foreign")
        user = UserFactory()
        orphans = [put(f"users/{user.id}/assets/{new_id('ast')}/o{i}.png") for i in range(3)]
        upload = make_upload(user)

        result = storage_sweep(grace=0, delete=True)

        assert (result.scanned, result.orphans) == (5, 3)
        assert s3.keys("craft/") == sorted(f"craft/{k}" for k in (upload.key, upload.thumbnail_key))
        assert all(not storage.exists(key) for key in orphans)
        bucket = s3.keys()
        assert sorted(foreign) == [key for key in bucket if not key.startswith("craft/")]
    finally:
        s3.empty_bucket()
