"""Media files from disk in the embedded mode, behind the signed, expiring URLs of
studio.storage.url_for. With S3 configured clients fetch from S3 and this view is a 404.

The signature is the capability: no session is needed, so an <img> or <video> tag works.
"""

import re
import time
from collections.abc import Iterator
from pathlib import Path

from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseForbidden,
    StreamingHttpResponse,
)
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from studio import storage

CONTENT_TYPES = {
    ".png": "image/png",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".mp4": "video/mp4",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".zip": "application/zip",  # data exports
}
# SVG is a document that can carry scripts; opened directly from our origin it must not run.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 64 * 1024


class _Unsatisfiable(Exception):
    pass


@require_safe
def serve_media(request: HttpRequest, key: str) -> HttpResponse:
    """A stored file for the holder of a valid, unexpired signed URL."""
    if not storage.is_filesystem():
        raise Http404("media is served from object storage")
    try:
        path = storage.local_path(key)
    except ValueError:
        raise Http404("no such file") from None

    filename = request.GET.get("f", "")
    try:
        expires_at = int(request.GET.get("e", ""))
    except ValueError:
        return HttpResponseForbidden("invalid media link")
    remaining = expires_at - int(time.time())
    if remaining <= 0:
        return HttpResponseForbidden("this media link has expired")
    if not storage.media_signature_valid(key, expires_at, filename, request.GET.get("s", "")):
        return HttpResponseForbidden("invalid media link")

    try:
        size = path.stat().st_size
    except (FileNotFoundError, NotADirectoryError):
        raise Http404("no such file") from None
    if not path.is_file():
        raise Http404("no such file")

    content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
    try:
        byte_range = _byte_range(request.headers.get("Range", ""), size)
    except _Unsatisfiable:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response

    if byte_range is None:
        response = FileResponse(
            path.open("rb"),
            content_type=content_type,
            as_attachment=bool(filename),
            filename=filename or path.name,
        )
    else:
        start, end = byte_range
        length = end - start + 1
        response = StreamingHttpResponse(
            _read_slice(path, start, length), status=206, content_type=content_type
        )
        response["Content-Length"] = str(length)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Disposition"] = content_disposition_header(
            bool(filename), filename or path.name
        )
    response["Accept-Ranges"] = "bytes"
    # The link stops working at its expiry, so no cache may keep the file longer.
    response["Cache-Control"] = f"private, max-age={remaining}"
    response["X-Content-Type-Options"] = "nosniff"
    if content_type == "image/svg+xml":
        response["Content-Security-Policy"] = SVG_POLICY
    return response


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The (first, last) byte of a single-range request, or None to send the whole file.

    Video players ask for ranges to seek; multi-range requests are answered in full.
    """
    match = _RANGE.match(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # "bytes=-500": the last 500 bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _Unsatisfiable
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # not a valid range: ignored, as RFC 9110 asks
    if start >= size:
        raise _Unsatisfiable
    return start, min(int(last), size - 1) if last else size - 1


def _read_slice(path: Path, start: int, length: int) -> Iterator[bytes]:
    # Opened on first read: a response that is never iterated holds no file.
    with path.open("rb") as handle:
        handle.seek(start)
        while length > 0:
            chunk = handle.read(min(_CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk
