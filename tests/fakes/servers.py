"""Local stand-ins for the remote AI providers, speaking their HTTP contracts on 127.0.0.1.

Each fake is a ThreadingHTTPServer on an ephemeral port, served from a daemon thread by a
context manager (or the fixtures at the end). It is strict about what it receives: a wrong
method, path, token or body shape gets the 4xx a real service would give, so a client bug fails
a test instead of passing against a lenient fake. Every request is recorded for assertions, and
a test can make the next responses misbehave with `fail_next(...)`.

The Hugging Face fake is in tests.fakes.huggingface. Both modules are pytest plugins of the
root conftest, so their fixtures (fake_pollinations, fake_huggingface) are everywhere.
"""

import io
import json
import socket
import struct
import threading
import zlib
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from PIL import Image

HF_TOKEN = "hf_fake_token_0123456789"
# A handler told to hang answers after this long even if the test never releases it, with a
# 504 no test expects: a client that forgot its timeout fails instead of hanging the suite.
HANG_LIMIT = 10.0
MAX_BODY = 32 * 1024 * 1024


# --- What a fake answers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One response that is not the normal success (see the constructors below)."""

    kind: str
    status: int = 200
    payload: Any = None
    content_type: str = ""
    size: tuple[int, int] | None = None


def http_error(status: int, payload: dict | str | None = None) -> Fault:
    """Answer with `status` and a JSON (dict) or plain-text (str) body."""
    return Fault("status", status=status, payload=payload)


def wrong_content_type(content_type: str, body: bytes = b"<html>busy, try later</html>") -> Fault:
    """A 200 whose body is not what was asked for (a CDN's HTML page, say)."""
    return Fault("content_type", payload=body, content_type=content_type)


def other_size(width: int, height: int) -> Fault:
    """A valid image, but at another size (a model answering at its native size).
    Image segmentation: masks of that size."""
    return Fault("other_size", size=(width, height))


def json_answer(payload: Any, status: int = 200) -> Fault:
    """Answer with this JSON, whatever was asked (a malformed or hand-made result)."""
    return Fault("json", status=status, payload=payload)


HANG = Fault("hang")  # no answer until the test sets `release` (then a 504)
GARBAGE = Fault("garbage")  # 200 with the usual media content type and bytes that are no media
EMPTY = Fault("empty")  # 200 with an empty body
TRUNCATED = Fault("truncated")  # 200 with the first half of a real result
BOMB = Fault("bomb")  # 200 with a tiny PNG whose header claims 50000x50000 pixels
DROP = Fault("drop")  # headers promise the whole result; the connection closes halfway
# Image segmentation: a model that found nothing, as an empty list or as masks with no pixel set.
NO_SEGMENTS = Fault("no_segments")
BLANK_MASKS = Fault("blank_masks")


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str  # without the query, still percent-encoded as sent
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes
    json: Any = None  # the parsed body, when it was JSON
    prompt: str | None = None  # Pollinations: the decoded prompt path segment


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    declared_length: int | None = None  # DROP: more than is sent


def json_reply(status: int, payload: Any) -> Reply:
    return Reply(status, json.dumps(payload).encode())


# --- Media the fakes return ------------------------------------------------------------------


@lru_cache(maxsize=64)
def png_image(width: int, height: int, seed: int = 0, image_format: str = "PNG") -> bytes:
    """A deterministic picture: two gradients and a channel taken from the seed."""
    across = Image.linear_gradient("L").rotate(90).resize((width, height))
    down = Image.linear_gradient("L").resize((width, height))
    flat = Image.new("L", (width, height), seed % 256)
    buffer = io.BytesIO()
    Image.merge("RGB", (across, flat, down)).save(buffer, image_format)
    return buffer.getvalue()


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A few hundred bytes whose header claims a picture far too large to decode."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 4096)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@lru_cache(maxsize=16)
def mp4_video(width: int, height: int, frames: int, fps: int) -> bytes:
    """A deterministic H.264 MP4 of `frames` frames (a colour ramp)."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for index in range(frames):
            shade = (index * 255 // max(frames - 1, 1),) * 3
            picture = Image.new("RGB", (width, height), shade)
            container.mux(stream.encode(av.VideoFrame.from_image(picture)))
        container.mux(stream.encode(None))
    return buffer.getvalue()


GARBAGE_BYTES = b"this is not media, just bytes with a media content type " * 8


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- The server machinery --------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no pooled connection outlives a test's server.
    protocol_version = "HTTP/1.0"
    server_version = "FakeProvider/1.0"

    def log_message(self, format, *args):
        pass  # quiet test output

    def _serve(self):
        self.server.fake._serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class FakeServer:
    """Base of the fakes: the thread, recording, and programmed faults."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        # Set by the test (or on exit) to let a HANG handler finish.
        self.release = threading.Event()
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self):
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, *faults: Fault) -> None:
        """Answer the next valid requests with these faults, in order, then succeed again."""
        if HANG in faults:
            self.release.clear()
        with self._lock:
            self._faults.extend(faults)

    def wait_for_requests(self, count: int, timeout: float = 30) -> bool:
        """Block until `count` requests have arrived (a client in another process got this
        far); False on timeout."""
        with self._lock:
            return self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    # Subclasses: return an error Reply when the request breaks the contract, else None
    # (and fill in `request.json` / `request.prompt`); build the success Reply; and the
    # bytes a fault like TRUNCATED starts from.
    def check(self, request: Recorded) -> Reply | None:
        raise NotImplementedError

    def answer(self, request: Recorded, size: tuple[int, int] | None = None) -> Reply:
        raise NotImplementedError

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(handler, json_reply(413, {"error": "Payload Too Large"}))
            return
        body = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        request = Recorded(
            method=handler.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in handler.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(request)
            self._arrived.notify_all()
        reply = self.check(request)
        if reply is None:
            with self._lock:
                fault = self._faults.popleft() if self._faults else None
            reply = self.answer(request) if fault is None else self._fault(request, fault)
        self._send(handler, reply)

    def _fault(self, request: Recorded, fault: Fault) -> Reply:
        if fault.kind == "status":
            if isinstance(fault.payload, str):
                return Reply(fault.status, fault.payload.encode(), "text/plain")
            return json_reply(fault.status, fault.payload or {"error": "Internal Server Error"})
        if fault.kind == "hang":
            self.release.wait(HANG_LIMIT)
            return json_reply(504, {"error": "fake: released after hanging"})
        if fault.kind == "content_type":
            return Reply(200, fault.payload, fault.content_type)
        if fault.kind == "other_size":
            return self.answer(request, size=fault.size)
        if fault.kind == "json":
            return json_reply(fault.status, fault.payload)
        normal = self.answer(request)
        if fault.kind == "garbage":
            return Reply(200, GARBAGE_BYTES, normal.content_type)
        if fault.kind == "empty":
            return Reply(200, b"", normal.content_type)
        if fault.kind == "truncated":
            return Reply(200, normal.body[: len(normal.body) // 2], normal.content_type)
        if fault.kind == "bomb":
            return Reply(200, bomb_png(), "image/png")
        if fault.kind == "drop":
            half = normal.body[: len(normal.body) // 2]
            return Reply(200, half, normal.content_type, declared_length=len(normal.body))
        return self._special_fault(request, fault)

    def _special_fault(self, request: Recorded, fault: Fault) -> Reply:
        """Faults only one fake knows (a subclass's own)."""
        raise ValueError(f"unknown fault {fault.kind!r}")

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        length = reply.declared_length if reply.declared_length is not None else len(reply.body)
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(length))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (its timeout), which is what some tests want


# --- Pollinations ----------------------------------------------------------------------------


class FakePollinations(FakeServer):
    """The Pollinations image API: GET /prompt/<percent-encoded prompt>?width&height&seed&model
    &nologo, answering an image (JPEG by default, like the real service)."""

    MODELS = frozenset({"flux", "turbo"})
    _QUERY = {
        "width": lambda v: v.isdigit() and 16 <= int(v) <= 4096,
        "height": lambda v: v.isdigit() and 16 <= int(v) <= 4096,
        "seed": lambda v: v.isdigit(),
        "model": lambda v: v in FakePollinations.MODELS,
        "nologo": lambda v: v in ("true", "false"),
    }

    def __init__(self, *, image_format: str = "JPEG") -> None:
        super().__init__()
        self.image_format = image_format

    def check(self, request: Recorded) -> Reply | None:
        if request.method != "GET":
            return json_reply(405, {"error": "Method Not Allowed"})
        if not request.path.startswith("/prompt/"):
            return json_reply(404, {"error": "Not Found"})
        encoded = request.path.removeprefix("/prompt/")
        if not encoded or "/" in encoded:
            # A raw "/" means the client did not encode the prompt as one path segment.
            return json_reply(404, {"error": "Not Found: the prompt must be one path segment"})
        try:
            request.prompt = unquote(encoded, errors="strict")
        except UnicodeDecodeError:
            return json_reply(400, {"error": "prompt is not UTF-8"})
        for name, values in request.query.items():
            if name not in self._QUERY:
                return json_reply(400, {"error": f"unknown parameter {name!r}"})
            if len(values) != 1 or not self._QUERY[name](values[0]):
                return json_reply(400, {"error": f"invalid value for {name!r}: {values!r}"})
        return None

    def answer(self, request: Recorded, size: tuple[int, int] | None = None) -> Reply:
        query = {name: values[0] for name, values in request.query.items()}
        width, height = size or (int(query.get("width", 1024)), int(query.get("height", 1024)))
        data = png_image(width, height, int(query.get("seed", 0)), self.image_format)
        return Reply(200, data, f"image/{self.image_format.lower()}")


# --- Fixtures --------------------------------------------------------------------------------


@pytest.fixture
def fake_pollinations():
    with FakePollinations() as server:
        yield server
