"""Checking and normalising uploaded source images. Plain Pillow, no database.

An upload is accepted by its bytes, never by its name: PNG, JPEG and WebP only, within a size
and a pixel limit. Dimensions are read from the header and checked before any pixel is
decoded, so a small file claiming 100 megapixels costs nothing. Accepted images are decoded
fully (a truncated file is refused here, not by a later operation), turned upright by their
EXIF orientation and re-encoded in their own format without metadata: EXIF (camera, GPS),
XMP, IPTC and text chunks are dropped. An embedded ICC colour profile is applied (the pixels
are converted to sRGB) and then dropped too: providers, image operations and browsers treat
untagged pixels as sRGB, so every stored upload means the same colours everywhere. Animated
PNG and WebP keep their first frame.
"""

import io
import logging
import struct
from dataclasses import dataclass

from PIL import (
    Image,
    ImageCms,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
)

from core.exceptions import DomainError

logger = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
JPEG_QUALITY = 95
WEBP_QUALITY = 95
PNG_COMPRESS_LEVEL = 6

# What a malformed file makes Pillow raise, while parsing a header or decoding pixels.
_DECODE_ERRORS = (
    OSError,  # truncated data, decoder errors (UnidentifiedImageError is one too)
    SyntaxError,  # "not a PNG file", broken chunks
    ValueError,  # impossible sizes, oversized text chunks
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    ZeroDivisionError,
    Image.DecompressionBombError,
)


@dataclass(frozen=True)
class Format:
    name: str  # Pillow's
    content_type: str
    extension: str
    opener: type[ImageFile.ImageFile]


PNG = Format("PNG", "image/png", "png", PngImagePlugin.PngImageFile)
JPEG = Format("JPEG", "image/jpeg", "jpg", JpegImagePlugin.JpegImageFile)
WEBP = Format("WEBP", "image/webp", "webp", WebPImagePlugin.WebPImageFile)


@dataclass(frozen=True)
class Clean:
    """An accepted upload: the re-encoded bytes and what they are."""

    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


class UploadRejected(DomainError):
    """The file is not an image we accept; `details.file` says why."""

    code = "INVALID_REQUEST"
    http_status = 400
    message = "The file is not a usable image"

    def __init__(self, message: str, **details):
        super().__init__(message, file=[message], **details)


class UploadTooLarge(UploadRejected):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


def human_size(size: int) -> str:
    """`20 MB`, `512 KB`, `1000 bytes`: a size as people read it (binary units)."""
    if size >= 2**20:
        return f"{size / 2**20:.3g} MB"
    if size >= 2**10:
        return f"{size / 2**10:.3g} KB"
    return f"{size} bytes"


def check_size(size: int, *, max_bytes: int) -> None:
    """Refuse a file of `size` bytes before reading it, when it is over the limit."""
    if size > max_bytes:
        actual, limit = human_size(size), human_size(max_bytes)
        if actual == limit:  # just over: rounded, both would read "20 MB"
            actual, limit = f"{size:,} bytes", f"{max_bytes:,} bytes ({limit})"
        raise UploadTooLarge(f"The file is {actual}; the limit is {limit}", limit=max_bytes)


def sniff(data: bytes) -> Format:
    """The format the bytes are, by their signature; UploadRejected for anything else."""
    if data.startswith(PNG_SIGNATURE):
        return PNG
    if data.startswith(JPEG_SIGNATURE):
        return JPEG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith(GIF_SIGNATURES):
        raise UploadRejected("GIF is not supported: send PNG, JPEG or WebP")
    raise UploadRejected("Not a PNG, JPEG or WebP image")


def normalise_upload(data: bytes, *, max_bytes: int, max_pixels: int) -> Clean:
    """The upload checked, upright and stripped of metadata; UploadRejected (400) or
    UploadTooLarge (413) for anything else. Never raises another error for bad bytes."""
    if not data:
        raise UploadRejected("The file is empty")
    check_size(len(data), max_bytes=max_bytes)
    kind = sniff(data)
    if kind is WEBP:
        # Pillow's WebP reader allocates the whole canvas when it opens the file: the header's
        # size is checked first, from the bytes.
        _check_pixels(_webp_size(data), max_pixels)
    try:
        # The format's own reader, not Image.open: Image.open would also try other formats,
        # and its bomb check follows the process-wide Image.MAX_IMAGE_PIXELS (which other code
        # changes) and only warns below twice that. Our limit is checked instead.
        image = kind.opener(io.BytesIO(data))
    except _DECODE_ERRORS:
        raise UploadRejected("The image is truncated or corrupt") from None
    _check_pixels(image.size, max_pixels)
    try:
        image.load()  # every pixel: a truncated file fails here
        encoded, size = _reencode(image, kind, lossless=kind is WEBP and _webp_is_lossless(data))
    except _DECODE_ERRORS:
        raise UploadRejected("The image is truncated or corrupt") from None
    return Clean(encoded, kind.content_type, kind.extension, *size)


def _check_pixels(size: tuple[int, int] | None, max_pixels: int) -> None:
    if size is None or size[0] < 1 or size[1] < 1:
        raise UploadRejected("The image is truncated or corrupt")
    width, height = size
    if width * height > max_pixels:
        raise UploadRejected(
            f"The image has {width * height / 1e6:.1f} million pixels ({width}x{height}); "
            f"the limit is {max_pixels / 1e6:g} million",
            width=width,
            height=height,
        )


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size in a WebP header (lossy, lossless or extended), without decoding."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def _webp_is_lossless(data: bytes) -> bool:
    """Whether the (first) frame is VP8L. Chunks: 4-byte id, little-endian size, padded."""
    offset, end = 12, len(data)
    while offset + 8 <= end:
        fourcc = data[offset : offset + 4]
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        if fourcc == b"VP8L":
            return True
        if fourcc == b"VP8 ":
            return False
        if fourcc == b"ANMF":
            offset += 8 + 16  # into the frame: its own header, then its image chunks
            continue
        offset += 8 + size + (size & 1)
    return False


def _reencode(
    image: ImageFile.ImageFile, kind: Format, *, lossless: bool
) -> tuple[bytes, tuple[int, int]]:
    sampling = JpegImagePlugin.get_sampling(image) if kind is JPEG else -1
    icc = image.info.get("icc_profile")
    upright = _upright(image)
    pixels = _in_srgb(upright, icc) if icc else upright
    pixels = _storable(pixels, kind)
    pixels.info = {}  # nothing from the source rides along (EXIF, XMP, text, ICC, DPI)
    buffer = io.BytesIO()
    if kind is PNG:
        pixels.save(buffer, "PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL)
    elif kind is JPEG:
        # The source's chroma subsampling when it has one (4:4:4 stays 4:4:4).
        extra = {"subsampling": sampling} if sampling >= 0 else {}
        pixels.save(buffer, "JPEG", quality=JPEG_QUALITY, **extra)
    elif lossless:
        pixels.save(buffer, "WEBP", lossless=True, method=4)
    else:
        pixels.save(buffer, "WEBP", quality=WEBP_QUALITY, method=4)
    return buffer.getvalue(), pixels.size


def _upright(image: Image.Image) -> Image.Image:
    """The image turned by its EXIF orientation. Unreadable EXIF is ignored, not fatal: it is
    dropped anyway, and the pixels are fine."""
    try:
        return ImageOps.exif_transpose(image)
    except _DECODE_ERRORS:
        logger.info("upload: unreadable EXIF ignored", exc_info=True)
        return image


def _in_srgb(image: Image.Image, icc: bytes) -> Image.Image:
    """The pixels converted from their ICC profile to sRGB; as they are when the profile is
    sRGB already, or cannot be used (broken, or for a mode LittleCMS cannot convert)."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(source).lower():
            return image
        alpha = image.has_transparency_data
        if image.mode in ("P", "PA", "LA", "1"):
            image = image.convert("RGBA" if alpha else "RGB")
        output_mode = "RGBA" if alpha else "RGB"
        converted = ImageCms.profileToProfile(
            image, source, ImageCms.createProfile("sRGB"), outputMode=output_mode
        )
    except (ImageCms.PyCMSError, *_DECODE_ERRORS):
        logger.info("upload: ICC profile not applied", exc_info=True)
        return image
    return converted if converted is not None else image


def _storable(image: Image.Image, kind: Format) -> Image.Image:
    """8-bit grey or RGB, with alpha where the format keeps it."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # 16-bit (and float) grey: scaled to 8 bits, not clipped at 255.
        image = image.convert("I") if image.mode != "F" else image
        image = image.point(lambda value: value * (1 / 256)).convert("L")
    alpha = kind is not JPEG and image.has_transparency_data
    grey = image.mode in ("1", "L", "LA", "La") and kind is not WEBP
    target = ("L" if grey else "RGB") + ("A" if alpha else "")
    return image if image.mode == target else image.convert(target)
