"""The one place that touches the media storage backend (S3 in production, files when embedded).

Keys look like `users/<user>/generations/<id>/<name>` and are authoritative: writing a key
replaces what is there, never a renamed copy. Writes refuse to run inside a database
transaction (slow I/O never holds one open); every call retries transient errors with
backoff and reports a backend that stays down as StorageUnavailable.
"""

import datetime
import logging
import os
import random
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import quote, urlencode

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import connections
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.http import content_disposition_header
from storages.backends.s3 import S3Storage

from core.exceptions import DomainError
from studio.s3_put import lean_put_for

logger = logging.getLogger(__name__)

T = TypeVar("T")

MEDIA_SALT = "craftframe.media"
URL_STEP = 300  # seconds: signed local media URLs change at most this often
BACKOFF_BASE = 0.2  # seconds before the first retry; doubles per attempt
BACKOFF_MAX = 5.0

# Tests replace this to count retries without waiting.
_sleep = time.sleep

# S3 error codes that mean "try again later" even when the status is below 500.
_RETRYABLE_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
}


class StorageUnavailable(DomainError):
    code = "SERVICE_UNAVAILABLE"
    http_status = 503
    message = "File storage is unavailable, try again later"


def _backend() -> Storage:
    return storages["default"]


def is_filesystem() -> bool:
    """Whether media lives on this machine's disk (and is served by the app)."""
    return isinstance(_backend(), FileSystemStorage)


def check_key(key: str) -> str:
    """`key` if it is a clean relative object key, else ValueError (no '..', no absolute)."""
    if not isinstance(key, str) or not key or len(key) > 1024:
        raise ValueError("storage key must be a non-empty string")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"invalid storage key {key!r}")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"invalid storage key {key!r}")
    return key


def _check_prefix(prefix: str) -> str:
    # A prefix without its trailing slash would also match generations/10/ for generations/1.
    if not isinstance(prefix, str) or not prefix.endswith("/"):
        raise ValueError(f"storage prefix must end with '/': {prefix!r}")
    check_key(prefix[:-1])
    return prefix


def _refuse_in_transaction() -> None:
    # Attributes only: checking must not open a connection where none is in use.
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block or (
            connection.connection is not None and not connection.autocommit
        ):
            raise RuntimeError(
                f"storage I/O inside a database transaction (alias {connection.alias!r}); "
                "write files before or after the transaction, never inside it"
            )


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code = exc.response.get("Error", {}).get("Code", "")
        return status >= 500 or status == 429 or code in _RETRYABLE_CODES
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return True  # refused, reset or closed connections; connect and read timeouts
    return isinstance(exc, OSError)  # disk full, NFS hiccups, sockets


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (0-based): exponential, jittered."""
    base = min(BACKOFF_MAX, BACKOFF_BASE * 2**attempt)
    # Jitter keeps workers that failed together from retrying together.
    return base * random.uniform(0.5, 1.0)


def _retrying(
    operation: str,
    call: Callable[[], T],
    *,
    passthrough: tuple[type[BaseException], ...] = (),
) -> T:
    retries = settings.STORAGE_RETRIES
    attempt = 0
    while True:
        try:
            return call()
        except passthrough:
            raise
        except (BotoCoreError, ClientError, OSError) as exc:
            transient = _is_transient(exc)
            if not transient or attempt >= retries:
                logger.warning(
                    "storage %s failed after %d attempt(s): %s: %s",
                    operation,
                    attempt + 1,
                    type(exc).__name__,
                    exc,
                )
                raise StorageUnavailable(attempts=attempt + 1) from exc
            delay = backoff(attempt)
            logger.info(
                "storage %s failed (%s), retry %d/%d in %.2fs",
                operation,
                type(exc).__name__,
                attempt + 1,
                retries,
                delay,
            )
            attempt += 1
            _sleep(delay)


# --- Writes -----------------------------------------------------------------------------------


def put(key: str, data: bytes, content_type: str) -> None:
    """Store `data` under exactly `key`, replacing any previous object.

    The content type is stored with the object on S3; on disk the media view derives it from
    the key's extension, so keys carry the right one (.png, .webp, .mp4, .svg, .json).
    """
    check_key(key)
    _refuse_in_transaction()
    backend = _backend()
    _retrying("put", lambda: _put_once(backend, key, data, content_type))


def put_many(items: list[tuple[str, bytes, str]]) -> None:
    """`put` for several (key, data, content type) at once, written concurrently: a job's
    original, thumbnail and metadata cost one round trip of latency instead of three."""
    if len(items) < 2:
        for item in items:
            put(*item)
        return
    _refuse_in_transaction()  # checked here: the pool's threads cannot see this one's state
    futures = [_uploads().submit(put, *item) for item in items]
    errors = [future.exception() for future in futures]
    failed = next((error for error in errors if error is not None), None)
    if failed is not None:
        raise failed


_pool = None
_pool_lock = threading.Lock()


def _uploads() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="storage")
        return _pool


def _put_once(backend: Storage, key: str, data: bytes, content_type: str) -> None:
    content = ContentFile(data)
    content.content_type = content_type  # S3Storage sends it as the object's Content-Type
    if isinstance(backend, FileSystemStorage):
        _put_file(backend, key, content)
        return
    if isinstance(backend, S3Storage):
        # One PutObject to exactly the caller's key: Storage.save() would pick a free name
        # (file_overwrite is off for S3) and upload through a transfer manager with threads
        # of its own, which costs more than the write itself for files this small.
        # The low-level client, not bucket.Object(): boto3 builds resource classes per call,
        # which costs several times the request itself.
        name = backend._normalize_name(key)
        writer = lean_put_for(backend)
        if writer is not None:  # the same signed PutObject without boto3's per-call cost
            writer.put(name, data, content_type)
            return
        backend.connection.meta.client.put_object(
            Bucket=backend.bucket_name, Key=name, Body=data, ContentType=content_type
        )
        return
    else:
        backend.delete(key)
        saved = backend.save(key, content)
    if saved != key:
        backend.delete(saved)
        raise RuntimeError(f"storage saved {key!r} as {saved!r}")


def _put_file(backend: FileSystemStorage, key: str, content: ContentFile) -> None:
    # Write beside the target, then rename over it: readers never see half a file, and an
    # existing file is replaced instead of getting a suffixed sibling.
    temp = f"{key}.part-{uuid.uuid4().hex}"
    try:
        saved = backend.save(temp, content)
        os.replace(backend.path(saved), backend.path(key))
    except BaseException:
        # A write that failed half-way (disk full) leaves its temporary file behind.
        with suppress(OSError):
            backend.delete(temp)
        raise


def put_file(key: str, path: Path | str, content_type: str) -> None:
    """`put` for a file on this machine's disk, streamed: a large file (a data export) is
    never read into memory. On S3 a big file goes up in parts."""
    check_key(key)
    _refuse_in_transaction()
    backend = _backend()
    _retrying("put_file", lambda: _put_file_once(backend, key, Path(path), content_type))


def _put_file_once(backend: Storage, key: str, path: Path, content_type: str) -> None:
    if isinstance(backend, S3Storage):
        try:
            backend.connection.meta.client.upload_file(
                str(path),
                backend.bucket_name,
                backend._normalize_name(key),
                ExtraArgs={"ContentType": content_type},
            )
        except S3UploadFailedError as exc:  # boto3 wraps the ClientError of a failed part
            raise OSError(f"upload of {key} failed: {exc}") from exc
        return
    with path.open("rb") as handle:
        content = File(handle, name=path.name)
        content.content_type = content_type
        if isinstance(backend, FileSystemStorage):
            _put_file(backend, key, content)
            return
        backend.delete(key)
        saved = backend.save(key, content)
    if saved != key:
        backend.delete(saved)
        raise RuntimeError(f"storage saved {key!r} as {saved!r}")


def delete(keys: Iterable[str]) -> None:
    """Remove these objects; a key that is already gone is not an error."""
    keys = [check_key(key) for key in ([keys] if isinstance(keys, str) else keys)]
    _refuse_in_transaction()
    backend = _backend()
    for key in keys:
        _retrying("delete", lambda key=key: backend.delete(key))


def delete_prefix(prefix: str) -> int:
    """Remove every object under `prefix` (e.g. a generation's folder); returns how many."""
    _check_prefix(prefix)
    _refuse_in_transaction()
    backend = _backend()
    if isinstance(backend, FileSystemStorage):
        return _retrying("delete_prefix", lambda: _delete_tree(backend, prefix))
    if isinstance(backend, S3Storage):
        return _retrying("delete_prefix", lambda: _delete_s3_prefix(backend, prefix))
    return _retrying("delete_prefix", lambda: _delete_listed(backend, prefix))


def _inside_root(backend: FileSystemStorage, key: str) -> Path:
    root = Path(backend.location).resolve()
    try:
        path = Path(backend.path(key)).resolve()
    except SuspiciousFileOperation as exc:
        raise ValueError(str(exc)) from None
    # path() refuses names outside the root; resolve() also catches symlinks leading out.
    if root not in path.parents:
        raise ValueError(f"{key!r} is not inside the media root")
    return path


def _delete_tree(backend: FileSystemStorage, prefix: str) -> int:
    target = _inside_root(backend, prefix.rstrip("/"))
    if not target.is_dir():
        return 0
    count = sum(1 for path in target.rglob("*") if not path.is_dir())
    shutil.rmtree(target)
    return count


def _delete_s3_prefix(backend: S3Storage, prefix: str) -> int:
    client = backend.connection.meta.client
    full_prefix = backend._normalize_name(prefix)
    if not full_prefix.endswith("/"):
        full_prefix += "/"
    count = 0
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=backend.bucket_name, Prefix=full_prefix):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", ())]
        if not objects:
            continue
        # A page holds at most 1000 keys, the most one DeleteObjects call accepts.
        response = client.delete_objects(
            Bucket=backend.bucket_name, Delete={"Objects": objects, "Quiet": True}
        )
        errors = response.get("Errors", [])
        if errors:
            raise ClientError(
                {
                    "Error": {"Code": errors[0].get("Code", ""), "Message": str(errors[0])},
                    "ResponseMetadata": {"HTTPStatusCode": 500},
                },
                "DeleteObjects",
            )
        count += len(objects)
    return count


def _delete_listed(backend: Storage, prefix: str) -> int:
    count = 0
    directories, files = backend.listdir(prefix)
    for name in files:
        backend.delete(prefix + name)
        count += 1
    for name in directories:
        count += _delete_listed(backend, f"{prefix}{name}/")
    return count


# --- Reads ------------------------------------------------------------------------------------


# Reads are for tests and operations; unlike writes they may run inside a transaction.


def exists(key: str) -> bool:
    check_key(key)
    backend = _backend()
    return _retrying("exists", lambda: backend.exists(key))


def read(key: str) -> bytes:
    """The object's bytes; FileNotFoundError when there is none."""
    check_key(key)
    backend = _backend()

    def read_once() -> bytes:
        with backend.open(key, "rb") as handle:
            return handle.read()

    return _retrying("read", read_once, passthrough=(FileNotFoundError,))


@contextmanager
def open_read(key: str) -> Iterator[BinaryIO]:
    """The object as a binary file to read in chunks (a video into a ZIP), never whole in
    memory; FileNotFoundError when there is none. Opening is retried; a read that fails
    half-way is not (the caller has used what came before) and raises StorageUnavailable."""
    check_key(key)
    backend = _backend()
    if isinstance(backend, S3Storage):
        # The storage's own S3File downloads the whole object before the first read.
        handle = _retrying("open", lambda: _s3_body(backend, key), passthrough=(FileNotFoundError,))
    else:
        handle = _retrying(
            "open", lambda: backend.open(key, "rb"), passthrough=(FileNotFoundError,)
        )
    try:
        yield handle
    except (BotoCoreError, ClientError, OSError) as exc:
        raise StorageUnavailable(attempts=1) from exc
    finally:
        handle.close()


def _s3_body(backend: S3Storage, key: str):
    try:
        response = backend.connection.meta.client.get_object(
            Bucket=backend.bucket_name, Key=backend._normalize_name(key)
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise FileNotFoundError(key) from None
        raise
    return response["Body"]


def local_path(key: str) -> Path:
    """Where `key` lives on this machine's disk; ValueError for a key that would leave the
    media root, or when media is not on disk."""
    check_key(key)
    backend = _backend()
    if not isinstance(backend, FileSystemStorage):
        raise ValueError("media is not stored on the local filesystem")
    return _inside_root(backend, key)


LIST_PAGE = 1000  # keys per S3 listing request (the most S3 returns); tests lower it


@dataclass(frozen=True)
class StoredObject:
    """One stored file as listed: its key, size in bytes and last-modified time (UTC)."""

    key: str
    size: int
    modified: datetime.datetime


def list_objects(prefix: str) -> Iterator[StoredObject]:
    """Every object under `prefix`, streamed: one S3 page (up to 1000 keys) or one folder
    at a time, never the whole listing in memory. Keys that are not clean (see check_key)
    and, on disk, symlinks are left out: nothing through them is ours to report."""
    _check_prefix(prefix)
    backend = _backend()
    if isinstance(backend, FileSystemStorage):
        return _list_tree(backend, prefix)
    if isinstance(backend, S3Storage):
        return _list_s3(backend, prefix)
    return _list_walk(backend, prefix)


def _list_tree(backend: FileSystemStorage, prefix: str) -> Iterator[StoredObject]:
    top = _inside_root(backend, prefix.rstrip("/"))
    if not top.is_dir():
        return
    # followlinks=False: a symlinked folder is never entered, so the walk stays in the root.
    for folder, directories, files in os.walk(top, followlinks=False):
        directories.sort()
        for name in sorted(files):
            path = Path(folder, name)
            try:
                info = path.lstat()
            except FileNotFoundError:  # removed since the folder was read
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            # Named from the prefix asked for, so a key always lies under it.
            key = prefix + path.relative_to(top).as_posix()
            yield StoredObject(key, info.st_size, _utc(info.st_mtime))


def _list_s3(backend: S3Storage, prefix: str) -> Iterator[StoredObject]:
    client = backend.connection.meta.client
    full_prefix = backend._normalize_name(prefix)
    if not full_prefix.endswith("/"):
        full_prefix += "/"
    # What the backend's `location` adds in front of our keys; stripped from listed ones.
    location = full_prefix[: len(full_prefix) - len(prefix)]
    # ListObjectsV2 page by page (what its paginator does), so that a page that fails
    # transiently is retried alone instead of restarting the listing.
    request = {"Bucket": backend.bucket_name, "Prefix": full_prefix, "MaxKeys": LIST_PAGE}
    while True:
        page = _retrying("list", lambda request=request: client.list_objects_v2(**request))
        for item in page.get("Contents", ()):
            key = item["Key"][len(location) :]
            try:
                check_key(key)
            except ValueError:
                continue  # folder markers ("a/b/") and names storage could not address
            yield StoredObject(key, item["Size"], item["LastModified"])
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return
        request = {**request, "ContinuationToken": token}


def _list_walk(backend: Storage, prefix: str) -> Iterator[StoredObject]:
    directories, files = _retrying("list", lambda: backend.listdir(prefix))
    for name in sorted(files):
        key = prefix + name
        size = _retrying("list", lambda key=key: backend.size(key))
        modified = _retrying("list", lambda key=key: backend.get_modified_time(key))
        if timezone.is_naive(modified):
            modified = timezone.make_aware(modified, datetime.UTC)
        yield StoredObject(key, size, modified)
    for name in sorted(directories):
        yield from _list_walk(backend, f"{prefix}{name}/")


def _utc(timestamp: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)


# --- URLs -------------------------------------------------------------------------------------


def url_for(key: str, *, expires: int | None = None, filename: str | None = None) -> str:
    """A URL that lets its holder fetch `key` until it expires (seconds, default per backend).

    S3: the backend's presigned GET URL. On disk: /media/<key>?e=<unix expiry>&s=<signature>,
    checked by studio.media_views.serve_media. `filename` makes it a download with that name.
    No I/O, so it may be called anywhere.
    """
    check_key(key)
    if expires is not None and expires <= 0:
        raise ValueError("expires must be a positive number of seconds")
    backend = _backend()
    if isinstance(backend, FileSystemStorage):
        if expires is not None:
            return signed_media_url(key, int(time.time()) + expires, filename=filename)
        # The default expiry is rounded up to a few minutes: pages signing the same thumbnail
        # again hand out the same URL, which the browser already has in its cache.
        expires_at = int(time.time()) + settings.MEDIA_URL_EXPIRY
        expires_at += -expires_at % URL_STEP
        return signed_media_url(key, expires_at, filename=filename)
    parameters = {}
    if filename:
        parameters["ResponseContentDisposition"] = content_disposition_header(True, filename)
    if isinstance(backend, S3Storage):
        return backend.url(key, parameters=parameters or None, expire=expires)
    return backend.url(key)


def media_signature(key: str, expires_at: int, filename: str = "", *, secret=None) -> str:
    """HMAC over a local media URL's key, expiry and download name."""
    message = f"{key}\n{expires_at}\n{filename}"
    return salted_hmac(MEDIA_SALT, message, secret=secret, algorithm="sha256").hexdigest()


def media_signature_valid(key: str, expires_at: int, filename: str, signature: str) -> bool:
    # Fallback keys keep URLs handed out before a SECRET_KEY rotation working until expiry.
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return any(
        constant_time_compare(media_signature(key, expires_at, filename, secret=s), signature)
        for s in secrets
    )


def signed_media_url(key: str, expires_at: int, *, filename: str | None = None) -> str:
    """The app URL serving `key` from disk until `expires_at` (unix seconds)."""
    query = {"e": str(expires_at)}
    if filename:
        query["f"] = filename
    query["s"] = media_signature(key, expires_at, filename or "")
    base = settings.MEDIA_URL.rstrip("/") + "/"
    return f"{base}{quote(key)}?{urlencode(query)}"
