"""Local stand-ins for the remote AI providers, speaking their HTTP contracts on 127.0.0.1.

Each fake is a ThreadingHTTPServer on an ephemeral port, served from a daemon thread by a
context manager (or the fixtures at the end). It is strict about what it receives: a wrong
method, path, token or body shape gets the 4xx a real service would give, so a client bug fails
a test instead of passing against a lenient fake. Every request is recorded for assertions, and
a test can make the next responses misbehave with `fail_next(...)`.

To use the fixtures from another test module, either wrap the context manager in a local
fixture or add `pytest_plugins = ["tests.fakes.servers"]` to the root conftest.
"""

import base64
import binascii
import io
import json
import re
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


# --- Parameter checks shared by the fakes ----------------------------------------------------


def _int(low: int, high: int):
    return lambda value: type(value) is int and low <= value <= high


def _number(low: float, high: float):
    return lambda value: (
        isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
    )


def _text(value) -> bool:
    return isinstance(value, str)


def _texts(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _fraction(value) -> bool:
    return _number(0, 1)(value)


def _target_size(value) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"width", "height"}
        and all(_int(16, 4096)(item) for item in value.values())
    )


_SEED = _int(0, 2**63 - 1)
_STEPS = _int(1, 200)
_GUIDANCE = _number(0, 50)
_SIDE = _int(16, 4096)

# The parameters each task accepts (huggingface.js "tasks" specs), and their checks.
HF_TASK_PARAMETERS = {
    "text-to-image": {
        "width": _SIDE,
        "height": _SIDE,
        "num_inference_steps": _STEPS,
        "guidance_scale": _GUIDANCE,
        "seed": _SEED,
        "negative_prompt": _text,
        "scheduler": _text,
    },
    "image-to-image": {
        "prompt": _text,
        "negative_prompt": _text,
        "target_size": _target_size,
        "num_inference_steps": _STEPS,
        "guidance_scale": _GUIDANCE,
        "seed": _SEED,
    },
    "text-to-video": {
        "num_frames": _number(1, 1000),
        "num_inference_steps": _STEPS,
        "guidance_scale": _GUIDANCE,
        "seed": _SEED,
        "negative_prompt": _texts,
    },
    "image-segmentation": {
        "mask_threshold": _fraction,
        "overlap_mask_area_threshold": _fraction,
        "subtask": lambda value: value in ("instance", "panoptic", "semantic"),
        "threshold": _fraction,
    },
}
# Tasks whose input is a picture: a binary body, or base64 in "inputs" when there are parameters.
HF_IMAGE_INPUT_TASKS = frozenset({"image-to-image", "image-segmentation"})

# Model id -> the task its pipeline serves (a model URL serves exactly one).
HF_MODELS = {
    "black-forest-labs/FLUX.1-dev": "text-to-image",
    "black-forest-labs/FLUX.1-schnell": "text-to-image",
    "stabilityai/stable-diffusion-xl-base-1.0": "text-to-image",
    "THUDM/CogVideoX-5b": "text-to-video",
    "timbrooks/instruct-pix2pix": "image-to-image",
    # The studio's default operation models (settings.HF_SEGMENTATION_MODEL, HF_UPSCALE_MODEL).
    "briaai/RMBG-1.4": "image-segmentation",
    "stabilityai/stable-diffusion-x4-upscaler": "image-to-image",
}


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            return image.size
    except Exception:
        return None


def subject_mask(data: bytes) -> Image.Image:
    """A plausible foreground mask (mode L, 0 or 255) of an image: the pixels whose colour is
    clearly not the border's, which is what a segmentation model finds on a plain backdrop."""
    import numpy as np

    with Image.open(io.BytesIO(data)) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    backdrop = np.median(border, axis=0)
    foreground = np.abs(pixels - backdrop).max(axis=2) > 48
    return Image.fromarray(np.where(foreground, 255, 0).astype(np.uint8), "L")


def _b64_png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


# --- Hugging Face ----------------------------------------------------------------------------


class FakeHuggingFace(FakeServer):
    """HF Inference on model URLs: POST /models/<org>/<name>, {"inputs", "parameters"} in JSON,
    a bearer token; answers image/png for image tasks and video/mp4 for video.

    Image-to-image and image segmentation also take the picture itself as the body (what the
    client sends when there are no parameters). Segmentation answers a JSON list of segments,
    {"label", "score", "mask": base64 PNG (mode L) of the image's size}: "foreground" from
    `subject_mask`, and unless `background_segment` is False a "background" segment first.
    """

    _PATH = re.compile(r"/models/(?P<model>[A-Za-z0-9][\w.-]*/[\w.-]+)")

    def __init__(
        self,
        *,
        token: str = HF_TOKEN,
        models: dict[str, str] | None = None,
        video_size: tuple[int, int] = (64, 48),
        video_fps: int = 8,
        background_segment: bool = True,
    ) -> None:
        super().__init__()
        self.token = token
        self.models = dict(HF_MODELS if models is None else models)
        self.video_size = video_size
        self.video_fps = video_fps
        self.background_segment = background_segment

    def check(self, request: Recorded) -> Reply | None:
        if request.method != "POST":
            return json_reply(405, {"error": "Method Not Allowed"})
        match = self._PATH.fullmatch(request.path)
        if not match:
            return json_reply(404, {"error": "Not Found"})
        task = self.models.get(match["model"])
        if task is None:
            return json_reply(404, {"error": f"Model {match['model']} does not exist"})
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return json_reply(401, {"error": "Invalid credentials in Authorization header"})
        content_type = request.headers.get("content-type", "")
        if task in HF_IMAGE_INPUT_TASKS and not content_type.startswith("application/json"):
            # Without parameters the client sends the picture itself as the body: labelled
            # image/* when it knows the type, unlabelled when it was given plain bytes.
            if content_type and not content_type.startswith(("image/", "application/octet-stream")):
                return json_reply(400, {"error": f"expected an image, got {content_type!r}"})
            if _image_size(request.body) is None:
                return json_reply(400, {"error": "body is not an image"})
            return None
        if not content_type.startswith("application/json"):
            return json_reply(400, {"error": f"expected application/json, got {content_type!r}"})
        try:
            request.json = json.loads(request.body)
        except ValueError:
            return json_reply(400, {"error": "body is not valid JSON"})
        problem = self._problem(task, request.json)
        return None if problem is None else json_reply(400, {"error": problem})

    def _problem(self, task: str, body: Any) -> str | None:
        if not isinstance(body, dict):
            return "body must be a JSON object"
        if unexpected := sorted(set(body) - {"inputs", "parameters"}):
            return f"unexpected fields {unexpected}"
        inputs, parameters = body.get("inputs"), body.get("parameters", {})
        if not isinstance(inputs, str) or not inputs.strip():
            return "inputs must be a non-empty string"
        if not isinstance(parameters, dict):
            return "parameters must be an object"
        accepted = HF_TASK_PARAMETERS[task]
        for name, value in parameters.items():
            if name not in accepted:
                return f"unknown parameter {name!r} for {task}"
            if not accepted[name](value):
                return f"invalid value for {name!r}: {value!r}"
        if task in HF_IMAGE_INPUT_TASKS:
            try:
                picture = base64.b64decode(inputs, validate=True)
            except (binascii.Error, ValueError):
                return "inputs must be a base64-encoded image"
            if _image_size(picture) is None:
                return "inputs must be a base64-encoded image"
        return None

    def answer(self, request: Recorded, size: tuple[int, int] | None = None) -> Reply:
        task = self.models[self._PATH.fullmatch(request.path)["model"]]
        body = request.json if isinstance(request.json, dict) else {}
        parameters = body.get("parameters", {})
        seed = parameters.get("seed", 0)
        if task == "text-to-video":
            frames = int(parameters.get("num_frames", 16))
            width, height = size or self.video_size
            return Reply(200, mp4_video(width, height, frames, self.video_fps), "video/mp4")
        if task == "image-segmentation":
            return json_reply(200, self._segments(self._picture(request), size))
        if task == "image-to-image":
            source = self._picture(request)
            target = parameters.get("target_size")
            width, height = size or (
                (target["width"], target["height"]) if target else _image_size(source)
            )
        else:
            width, height = size or (parameters.get("width", 1024), parameters.get("height", 1024))
        return Reply(200, png_image(width, height, seed), "image/png")

    def _special_fault(self, request: Recorded, fault: Fault) -> Reply:
        if fault.kind == "no_segments":
            return json_reply(200, [])
        if fault.kind == "blank_masks":
            return json_reply(200, self._segments(self._picture(request), blank=True))
        return super()._special_fault(request, fault)

    @staticmethod
    def _picture(request: Recorded) -> bytes:
        """The image an image-input task received (already checked by `check`)."""
        if isinstance(request.json, dict):
            return base64.b64decode(request.json["inputs"])
        return request.body

    def _segments(
        self, picture: bytes, size: tuple[int, int] | None = None, *, blank: bool = False
    ) -> list[dict]:
        mask = subject_mask(picture)
        if size:
            mask = mask.resize(size, Image.Resampling.NEAREST)
        if blank:
            mask = Image.new("L", mask.size, 0)
        segments = [{"label": "foreground", "score": 1.0, "mask": _b64_png(mask)}]
        if self.background_segment:
            # First, so a client that takes the first segment as the subject gets it wrong.
            backdrop = mask if blank else mask.point(lambda value: 255 - value)
            segments.insert(0, {"label": "background", "score": 0.98, "mask": _b64_png(backdrop)})
        return segments


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
def fake_huggingface():
    with FakeHuggingFace() as server:
        yield server


@pytest.fixture
def fake_pollinations():
    with FakePollinations() as server:
        yield server
