"""Data exports: a user asks for everything they have here; a job builds one ZIP (their
files, and a JSON document of the rest), stores it in their own folder, and it can be
downloaded from a signed URL for a day. Expired exports' files are removed by the sweeper.

The ZIP is written to a temporary file and streamed into storage, one stored file at a time:
a user with gigabytes of video costs disk space for a moment, never memory.
"""

import io
import json
import logging
import secrets
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import EXPORT_ACTIVE, DataExport, ExportStatus, User
from accounts.selectors_export import (
    DOCUMENT_NAME,
    contents_of,
    export_document,
    export_files,
)
from core.exceptions import Conflict, Forbidden, NotFound
from studio import storage

logger = logging.getLogger(__name__)

EXPORT_LIFETIME = timedelta(days=1)  # how long a finished export can be downloaded
EXPORT_TIME_LIMIT = timedelta(minutes=30)  # a build running longer lost its worker
EXPORT_MAX_ATTEMPTS = 3  # builds of one export (each lost worker costs one) before it fails
COPY_CHUNK = 1024 * 1024
ZIP_NAME = "craftframe-export.zip"  # in storage; downloads are named with the date
# Pictures and videos are compressed already; deflating them again costs CPU for nothing.
_STORED_SUFFIXES = (".png", ".webp", ".jpg", ".jpeg", ".gif", ".mp4")


class ExportInProgress(Conflict):
    code = "EXPORT_IN_PROGRESS"
    message = "An export of your data is already being prepared"


def _new_export_id() -> str:
    return f"exp_{secrets.token_hex(12)}"


def export_request(*, user: User) -> DataExport:
    """Start an export of the user's data; one at a time (409 while one is queued or
    running). The job is sent after commit."""
    if user.is_demo:
        raise Forbidden("The shared demo account has no data of its own to export")
    running = DataExport.objects.filter(user=user, status__in=EXPORT_ACTIVE).first()
    if running is not None:
        raise ExportInProgress(id=running.id, status=running.status)
    export = DataExport(id=_new_export_id(), user=user, enqueued_at=timezone.now())
    export.key = f"{export.storage_prefix}{ZIP_NAME}"
    try:
        with transaction.atomic():
            export.save(force_insert=True)
            transaction.on_commit(lambda: _enqueue(export.id))
    except IntegrityError:  # a second request raced this one in: the constraint said no
        running = DataExport.objects.filter(user=user, status__in=EXPORT_ACTIVE).first()
        raise ExportInProgress(
            id=running.id if running else None, status=running.status if running else None
        ) from None
    return export


def _enqueue(export_id: str) -> None:
    from accounts.tasks import build_export

    build_export.send(export_id)


def export_get_for_user(*, user: User, export_id: str) -> DataExport:
    """The user's export; someone else's is as absent as a missing one (404)."""
    export = DataExport.objects.filter(pk=export_id, user=user).first()
    if export is None:
        raise NotFound("Export not found", id=str(export_id)[:64])
    return export


# --- The job ----------------------------------------------------------------------------------


def export_claim(*, export_id: str, now: datetime | None = None) -> DataExport | None:
    """Take the export if it is queued, or running for longer than the time limit (its
    worker was lost). None when there is nothing to do: a duplicate or late message."""
    now = now or timezone.now()
    claimable = Q(status=ExportStatus.QUEUED) | Q(
        status=ExportStatus.RUNNING, started_at__lt=now - EXPORT_TIME_LIMIT
    )
    claimed = DataExport.objects.filter(
        claimable, pk=export_id, attempts__lt=EXPORT_MAX_ATTEMPTS
    ).update(status=ExportStatus.RUNNING, started_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return None
    return DataExport.objects.select_related("user").get(pk=export_id)


def export_run(*, export_id: str) -> DataExport | None:
    """Build the export's ZIP and store it (the actor's body). Any failure marks it failed:
    the person can ask again, and nothing half-built is left in storage."""
    export = export_claim(export_id=export_id)
    if export is None:
        return None
    try:
        size, contents = _build_and_store(export)
    except BaseException as exc:  # TimeLimitExceeded too: the row must not stay running
        logger.exception("export %s failed", export.id)
        export_fail(export=export, error=f"{type(exc).__name__}: {exc}")
        if not isinstance(exc, Exception):
            raise
        return None
    now = timezone.now()
    # Only the build that still owns it (attempts unchanged) completes it.
    DataExport.objects.filter(
        pk=export.pk, status=ExportStatus.RUNNING, attempts=export.attempts
    ).update(
        status=ExportStatus.COMPLETED,
        size=size,
        contents=contents,
        finished_at=now,
        expires_at=now + EXPORT_LIFETIME,
        error="",
    )
    export.refresh_from_db()
    logger.info("export %s completed: %d bytes, %s", export.id, size, contents)
    return export


def _build_and_store(export: DataExport) -> tuple[int, dict]:
    directory = getattr(settings, "FILE_UPLOAD_TEMP_DIR", None)
    with tempfile.TemporaryDirectory(prefix="craftframe-export-", dir=directory) as folder:
        path = Path(folder) / "export.zip"
        contents = write_zip(export=export, path=path)
        storage.put_file(export.key, path, "application/zip")
        return path.stat().st_size, contents


def write_zip(*, export: DataExport, path: Path) -> dict:
    """The user's files, then the JSON document naming them, into a ZIP at `path`."""
    user = export.user
    files = export_files(user=user)
    missing = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for item in files:
            stored = item.path.lower().endswith(_STORED_SUFFIXES)
            info = zipfile.ZipInfo(item.path, date_time=timezone.now().timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            try:
                with (
                    storage.open_read(item.key) as source,
                    zf.open(info, "w", force_zip64=True) as target,
                ):
                    shutil.copyfileobj(source, target, COPY_CHUNK)
            except FileNotFoundError:  # deleted since it was listed, or lost: say so
                missing.append(item.path)
        document = export_document(user=user, export=export, missing=missing)
        with zf.open(DOCUMENT_NAME, "w") as target, io.TextIOWrapper(target, "utf-8") as text:
            json.dump(document, text, ensure_ascii=False, indent=1)
    return contents_of(document, files=len(files) - len(missing))


def export_fail(*, export: DataExport, error: str) -> bool:
    """Mark a running export failed, once, and remove whatever of its file was stored. Only
    while the build that failed still owns it (its attempt): a late one changes nothing."""
    failed = DataExport.objects.filter(
        pk=export.pk, status=ExportStatus.RUNNING, attempts=export.attempts
    ).update(status=ExportStatus.FAILED, error=error[:500], finished_at=timezone.now())
    if failed:
        _discard(export.key)
    return bool(failed)


def _discard(key: str) -> None:
    if not key:
        return
    try:
        storage.delete([key])
    except storage.StorageUnavailable:  # no row names it any more: storage_sweep removes it
        logger.warning("could not remove export file %s", key)


# --- Upkeep (run by the sweeper, studio.services.sweeper) --------------------------------------


@dataclass
class ExportSweep:
    expired: int = 0
    failed: int = 0
    resent: int = 0

    def __bool__(self) -> bool:
        return bool(self.expired or self.failed or self.resent)

    def __str__(self) -> str:
        return (
            f"expired {self.expired} data export(s), failed {self.failed} stuck one(s), "
            f"re-enqueued {self.resent}"
        )


def exports_sweep(*, now: datetime | None = None) -> ExportSweep:
    """Expire finished exports past their day (their files are deleted), fail builds whose
    workers were lost too often, and send again exports whose message was lost."""
    now = now or timezone.now()
    result = ExportSweep()
    for export in DataExport.objects.filter(
        status=ExportStatus.COMPLETED, expires_at__lte=now
    ).iterator():
        # The row first: from here no URL is handed out for it, and if storage is down the
        # file is one no row names, which storage_sweep removes.
        if DataExport.objects.filter(pk=export.pk, status=ExportStatus.COMPLETED).update(
            status=ExportStatus.EXPIRED, key=""
        ):
            _discard(export.key)
            result.expired += 1
    stuck = DataExport.objects.filter(
        status=ExportStatus.RUNNING,
        started_at__lt=now - EXPORT_TIME_LIMIT,
        attempts__gte=EXPORT_MAX_ATTEMPTS,
    )
    for export in stuck.iterator():
        if export_fail(export=export, error="Stopped: the workers building it were lost"):
            result.failed += 1
    # Queued for long, or running past the limit with attempts left: the message (or its
    # worker) was lost. A new message is harmless: the claim lets one build through.
    stale = now - timedelta(seconds=settings.QUEUED_STALE_AFTER)
    lost = DataExport.objects.filter(
        Q(status=ExportStatus.QUEUED, enqueued_at__lt=stale)
        | Q(
            status=ExportStatus.RUNNING,
            started_at__lt=now - EXPORT_TIME_LIMIT,
            attempts__lt=EXPORT_MAX_ATTEMPTS,
        )
    ).exclude(enqueued_at__gte=stale)
    for export in lost.iterator():
        if DataExport.objects.filter(pk=export.pk, enqueued_at=export.enqueued_at).update(
            enqueued_at=now
        ):
            _enqueue(export.pk)
            result.resent += 1
    return result
