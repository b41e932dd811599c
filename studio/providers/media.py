"""Checking and normalising what providers return: junk never reaches storage."""

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image, ImageOps, UnidentifiedImageError

from studio.providers.base import Output, ProviderError

# A provider answering with a decompression bomb must not take the worker down.
MAX_PIXELS = 64_000_000


def png_bytes(image: Image.Image, *, compress_level: int = 1) -> bytes:
    """PNG encoding tuned for speed; generated pictures compress poorly anyway."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def image_output(data: bytes, *, width: int, height: int, extra: dict | None = None) -> Output:
    """A provider's image bytes as a PNG of exactly width x height, or ProviderError.

    Remote models may answer at their native size; the studio promises the size that was
    asked for, so a different size is scaled to cover and centre-cropped (and recorded).
    """
    if not data:
        raise ProviderError("empty response instead of an image")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ProviderError(f"response is not a valid image ({type(exc).__name__})") from None
    except Image.DecompressionBombError:
        raise ProviderError("response image is too large") from None
    details = dict(extra or {})
    if image.size != (width, height):
        details["provider_size"] = f"{image.width}x{image.height}"
        image = ImageOps.fit(image.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    return Output(png_bytes(image), "image/png", width, height, details)


def video_output(data: bytes, *, extra: dict | None = None) -> Output:
    """A provider's video bytes, checked by decoding them: MP4 with at least one frame."""
    import av

    if not data:
        raise ProviderError("empty response instead of a video")
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            frames = sum(1 for _ in container.decode(stream))
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate
    except (av.error.FFmpegError, IndexError, ValueError) as exc:
        raise ProviderError(f"response is not a valid video ({type(exc).__name__})") from None
    if frames == 0:
        raise ProviderError("response video has no frames")
    details = {"frames": frames, "fps": float(rate) if rate else None, **(extra or {})}
    return Output(data, "video/mp4", width, height, details)


def short(text: str, limit: int = 300) -> str:
    """`text` on one line, cut to `limit` characters: a remote error fit for a job's error."""
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextmanager
def named(provider: str) -> Iterator[None]:
    """This module's errors, prefixed with the provider's name."""
    try:
        yield
    except ProviderError as exc:
        raise ProviderError(f"{provider}: {exc}") from None
