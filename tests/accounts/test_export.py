"""Exporting one's data: POST /users/export starts a job that builds a ZIP of the user's files
and a JSON document of the rest, stored in their own folder; a signed URL downloads it (local
media and SeaweedFS) until it expires a day later, when the sweeper deletes the file. One
export at a time; another user's is a 404."""

import io
import json
import zipfile
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
from django.utils import timezone

from accounts.models import DataExport, ExportStatus
from accounts.services_export import EXPORT_LIFETIME, EXPORT_MAX_ATTEMPTS, exports_sweep
from accounts.tasks import build_export
from studio import storage
from studio.models import Generation
from studio.services.storage_sweep import storage_sweep
from studio.services.sweeper import generations_sweep
from tests.accounts.support import EXPORT, fetch, fill
from tests.conftest import assert_error, login
from tests.factories import UserFactory
from tests.studio.lifecycle.support import storage_down
from tokens.audit import ledger_audit

# Exports write files, and storage refuses to write inside a transaction.
pytestmark = pytest.mark.django_db(transaction=True)

STAMP = {"type": ["string", "null"], "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"}
LIST = {"type": "array", "items": {"type": "object", "required": ["id"]}}
# What a client may rely on in craftframe-data.json (docs/API.md, "Your data").
DOCUMENT_SCHEMA = {
    "type": "object",
    "required": [
        "format",
        "version",
        "export",
        "exportedAt",
        "user",
        "generations",
        "assets",
        "projects",
        "styles",
        "templates",
        "executions",
        "ratings",
        "ledger",
        "webhooks",
        "missingFiles",
    ],
    "properties": {
        "format": {"const": "craftframe.export"},
        "version": {"const": 1},
        "exportedAt": STAMP,
        "user": {
            "type": "object",
            "required": ["id", "email", "name", "createdAt", "plan"],
            "properties": {"createdAt": STAMP, "lastLogin": STAMP},
        },
        "generations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "type", "status", "prompt", "params", "credits", "files"],
                "properties": {
                    "createdAt": STAMP,
                    "files": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["path", "contentType", "size"],
                            "properties": {"path": {"pattern": "^generations/"}},
                        },
                    },
                },
            },
        },
        "assets": LIST,
        "projects": LIST,
        "styles": LIST,
        "templates": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "document", "pipelines"],
                "properties": {
                    "document": {
                        "type": "object",
                        "required": ["format", "version", "name", "inputs", "steps"],
                    }
                },
            },
        },
        "executions": LIST,
        "ratings": {"type": "array"},
        "ledger": {
            "type": "object",
            "required": ["balance", "held", "entries"],
            "properties": {
                "entries": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "kind", "amount", "balance_after", "createdAt"],
                    },
                }
            },
        },
        "webhooks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "url", "events"],
                "not": {"required": ["secret"]},
            },
        },
        "missingFiles": {"type": "array", "items": {"type": "string"}},
    },
}


def start(api) -> dict:
    response = api.post(EXPORT)
    assert response.status_code == 202, response.content
    return response.json()


def status_of(api, export_id: str) -> dict:
    response = api.get(f"{EXPORT}/{export_id}")
    assert response.status_code == 200, response.content
    return response.json()


def export_now(api, run_worker) -> dict:
    """Ask for an export, let the worker build it, and return it as the API shows it."""
    export_id = start(api)["id"]
    run_worker(build_export.queue_name)
    body = status_of(api, export_id)
    assert body["status"] == "completed", body
    return body


def open_zip(data: bytes) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None  # every member's CRC checks out
    return archive


def test_the_zip_holds_every_file_as_the_api_serves_it_and_a_json_of_the_rest(
    backend, user_api, user, run_worker
):
    made = fill(user_api, run_worker)

    accepted = start(user_api)
    assert accepted["status"] == "queued" and accepted["url"] is None
    run_worker(build_export.queue_name)
    body = status_of(user_api, accepted["id"])

    assert body["status"] == "completed", body
    archive = open_zip(fetch(user_api, body["url"]))
    assert body["size"] == DataExport.objects.get(pk=body["id"]).size > 0
    # Each result, byte for byte what its own URL serves, named as its download link names it.
    for job in made.jobs:
        (file,) = user_api.get(f"/api/v1/studio/generation/{job}").json()["files"]
        extension = Generation.objects.get(pk=job).outputs[0]["key"].rsplit(".", 1)[-1]
        assert archive.read(f"generations/{job}-1.{extension}") == fetch(user_api, file["url"])
    upload = user_api.get(f"/api/v1/assets/{made.upload}").json()
    assert archive.read(f"uploads/{made.upload}.png") == fetch(user_api, upload["url"])
    assert len(archive.namelist()) == len(made.jobs) + 2  # the upload and the JSON
    assert body["contents"]["files"] == len(made.jobs) + 1

    document = json.loads(archive.read("craftframe-data.json"))
    jsonschema.validate(document, DOCUMENT_SCHEMA)
    assert document["user"]["email"] == user.email
    assert [g["id"] for g in document["generations"]] == made.jobs
    image = document["generations"][0]
    assert image["prompt"] == "A lighthouse at dawn" and image["project"] == made.project
    assert image["files"][0]["path"] in archive.namelist()
    assert [p["id"] for p in document["projects"]] == [made.project]
    assert [t["id"] for t in document["templates"]] == [made.template]
    assert document["templates"][0]["document"]["format"] == "craftframe.template"
    assert [w["id"] for w in document["webhooks"]] == [made.webhook]
    assert made.upload in {a["id"] for a in document["assets"]}
    ledger = user_api.get("/api/v1/tokens?limit=100").json()
    assert [e["id"] for e in document["ledger"]["entries"]] == sorted(
        e["id"] for e in ledger["history"]
    )
    assert document["ledger"]["balance"] == ledger["balance"]
    assert document["missingFiles"] == []
    assert body["contents"]["ledgerEntries"] == len(ledger["history"])
    # Stored in the user's own folder, under the key its row names.
    export = DataExport.objects.get(pk=body["id"])
    assert export.key.startswith(f"users/{user.pk}/exports/{export.id}/")
    assert storage.exists(export.key)
    assert ledger_audit() == []


def test_the_signed_url_downloads_a_dated_zip_and_lasts_as_long_as_the_export(
    media, user_api, run_worker
):
    body = export_now(user_api, run_worker)
    export = DataExport.objects.get(pk=body["id"])

    expiry = parse_qs(urlsplit(body["url"]).query)
    assert abs(int(expiry["e"][0]) - export.expires_at.timestamp()) <= 1
    assert export.expires_at - export.finished_at == EXPORT_LIFETIME == timedelta(days=1)
    response = user_api.get(body["url"])
    assert response["Content-Type"] == "application/zip"
    assert "craftframe-export-" in response["Content-Disposition"]
    assert response["Content-Disposition"].startswith("attachment")
    # The signature is the capability: tampering with the expiry breaks it.
    later = body["url"].replace(f"e={expiry['e'][0]}", f"e={int(expiry['e'][0]) + 86400}")
    assert user_api.get(later).status_code == 403


@pytest.mark.s3
def test_on_seaweedfs_the_url_is_a_presigned_s3_download(studio, s3_storage, user_api, run_worker):
    # `studio` first: its media root is then replaced by the bucket.
    body = export_now(user_api, run_worker)

    assert "X-Amz-Signature" in body["url"]
    assert "X-Amz-Expires=" in body["url"]
    archive = open_zip(fetch(user_api, body["url"]))
    assert "craftframe-data.json" in archive.namelist()


def test_after_a_day_the_export_expires_and_the_sweeper_deletes_its_file(
    backend, user_api, run_worker
):
    body = export_now(user_api, run_worker)
    export = DataExport.objects.get(pk=body["id"])
    assert generations_sweep().exports.expired == 0  # not yet

    result = generations_sweep(now=export.expires_at + timedelta(seconds=1))

    assert result.exports.expired == 1
    assert not storage.exists(export.key)
    shown = status_of(user_api, export.id)
    assert (shown["status"], shown["url"]) == ("expired", None)
    assert DataExport.objects.get(pk=export.id).key == ""
    assert exports_sweep(now=export.expires_at + timedelta(days=1)).expired == 0  # once


def test_storage_sweep_keeps_an_exports_zip_and_removes_what_an_expired_one_left(
    backend, user_api, run_worker
):
    body = export_now(user_api, run_worker)
    key = DataExport.objects.get(pk=body["id"]).key

    storage_sweep(grace=timedelta(0), delete=True)
    assert storage.exists(key)  # its row names it

    DataExport.objects.filter(pk=body["id"]).update(status=ExportStatus.EXPIRED, key="")
    storage_sweep(grace=timedelta(0), delete=True)
    assert not storage.exists(key)  # a file no row names


def test_a_second_export_while_one_is_being_prepared_is_409_in_the_error_format(
    media, user_api, user, run_worker
):
    first = start(user_api)

    body = assert_error(user_api.post(EXPORT), 409, "EXPORT_IN_PROGRESS")
    assert body["details"] == {"id": first["id"], "status": "queued"}
    assert DataExport.objects.filter(user=user).count() == 1

    run_worker(build_export.queue_name)
    again = start(user_api)  # once it is done, another may start
    assert again["id"] != first["id"]
    listed = user_api.get("/api/v1/users/exports").json()
    assert [e["id"] for e in listed["exports"]] == [again["id"], first["id"]]
    assert listed["pagination"]["total"] == 2


def test_another_users_export_is_404_and_not_listed(media, user_api, run_worker):
    body = export_now(user_api, run_worker)
    stranger = login(type(user_api)(), UserFactory())

    assert_error(stranger.get(f"{EXPORT}/{body['id']}"), 404, "NOT_FOUND")
    assert stranger.get("/api/v1/users/exports").json()["exports"] == []
    assert_error(user_api.get(f"{EXPORT}/exp_000000000000000000000000"), 404, "NOT_FOUND")


def test_an_export_needs_a_token(api):
    assert_error(api.post(EXPORT), 401, "UNAUTHORIZED")
    assert DataExport.objects.count() == 0


def test_the_shared_demo_account_cannot_export(media, api):
    token = api.post("/api/v1/auth/demo").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert_error(api.post(EXPORT), 403, "FORBIDDEN")
    assert DataExport.objects.count() == 0


def test_a_build_that_cannot_store_its_zip_fails_and_leaves_the_way_open(
    studio, settings, user_api, run_worker
):
    storage_down(settings)
    settings.STORAGE_RETRIES = 0
    export_id = start(user_api)["id"]

    run_worker(build_export.queue_name)

    body = status_of(user_api, export_id)
    assert body["status"] == "failed" and body["url"] is None
    assert "StorageUnavailable" in DataExport.objects.get(pk=export_id).error
    assert start(user_api)["id"] != export_id  # a failed export blocks nothing


def test_a_build_whose_worker_was_lost_is_sent_again_then_given_up(media, user_api, run_worker):
    export_id = start(user_api)["id"]
    long_ago = timezone.now() - timedelta(hours=2)
    # As a killed worker leaves it: claimed, running, its message gone.
    DataExport.objects.filter(pk=export_id).update(
        status=ExportStatus.RUNNING, attempts=1, started_at=long_ago, enqueued_at=long_ago
    )

    assert exports_sweep().resent == 1
    run_worker(build_export.queue_name)
    assert status_of(user_api, export_id)["status"] == "completed"
    assert DataExport.objects.get(pk=export_id).attempts == 2

    lost = start(user_api)["id"]
    DataExport.objects.filter(pk=lost).update(
        status=ExportStatus.RUNNING, attempts=EXPORT_MAX_ATTEMPTS, started_at=long_ago
    )
    assert exports_sweep().failed == 1
    assert status_of(user_api, lost)["status"] == "failed"


def test_a_duplicate_message_builds_nothing_twice(media, user_api, run_worker):
    export_id = start(user_api)["id"]
    build_export.send(export_id)  # a redelivery: the claim lets one build through

    run_worker(build_export.queue_name)

    export = DataExport.objects.get(pk=export_id)
    assert (export.status, export.attempts) == (ExportStatus.COMPLETED, 1)


def test_the_account_page_shows_the_latest_export_for_its_script(media, client, user, user_api):
    client.force_login(user)
    html = client.get("/account/").content.decode()
    assert "No export yet" in html
    assert '"export": null' in html

    accepted = start(user_api)
    html = client.get("/account/").content.decode()
    data = json.loads(html.split('id="account-data" type="application/json">')[1].split("<")[0])
    assert data["export"]["id"] == accepted["id"]
    assert data["export"]["status"] == "queued"
