"""Files and checks shared by the storage tests."""

import io
from urllib.parse import parse_qs, urlsplit

import av
from PIL import Image

from studio import storage


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


def assert_backoff(delays: list[float]) -> None:
    for attempt, delay in enumerate(delays):
        ceiling = min(storage.BACKOFF_MAX, storage.BACKOFF_BASE * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling


def split(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, {name: values[0] for name, values in parse_qs(parts.query).items()}


def decode(webp: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(webp))
    image.load()
    assert image.format == "WEBP"
    return image
