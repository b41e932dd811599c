"""Thumbnails for stored results: WebP, at most 512 px on the long side. Plain Pillow/PyAV."""

import io

from PIL import Image, ImageOps, UnidentifiedImageError

THUMBNAIL_SIDE = 512
WEBP_QUALITY = 80
# Generated pictures are at most a few megapixels; a bigger input is refused, not decoded.
MAX_PIXELS = 64_000_000


def thumbnail_webp(image_bytes: bytes, max_side: int = THUMBNAIL_SIDE) -> tuple[bytes, int, int]:
    """(webp bytes, width, height) of the picture scaled to fit max_side; never enlarged."""
    try:
        with Image.open(io.BytesIO(image_bytes)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ValueError(f"image too large for a thumbnail ({image.width}x{image.height})")
            image.load()
            return _thumbnail(image, max_side)
    except (UnidentifiedImageError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ValueError(f"not a readable image ({type(exc).__name__})") from None


def video_thumbnail_webp(
    mp4_bytes: bytes, max_side: int = THUMBNAIL_SIDE
) -> tuple[bytes, int, int]:
    """(webp bytes, width, height) of the video's first frame scaled to fit max_side."""
    import av  # PyAV loads FFmpeg; only video work pays for it

    try:
        with av.open(io.BytesIO(mp4_bytes)) as container:
            if not container.streams.video:
                raise ValueError("the file has no video stream")
            for frame in container.decode(video=0):
                return _thumbnail(frame.to_image(), max_side)
    except av.error.FFmpegError as exc:
        raise ValueError(f"not a readable video ({type(exc).__name__})") from None
    raise ValueError("the video has no frames")


def _thumbnail(image: Image.Image, max_side: int) -> tuple[bytes, int, int]:
    if max_side < 1:
        raise ValueError("max_side must be at least 1")
    image = ImageOps.exif_transpose(image)
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    image = image.convert("RGBA" if has_alpha else "RGB")
    # thumbnail() keeps the aspect ratio and only ever shrinks.
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=4)
    return buffer.getvalue(), image.width, image.height
