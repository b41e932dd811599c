"""Pictures built byte by byte for tests: encoded images, EXIF blocks, and PNG files whose
header claims more pixels than they carry (decompression bombs)."""

import io
import struct
import zlib

from PIL import Image

ORIENTATION = 0x0112
MAKE = 0x010F
GPS_IFD = 0x8825
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def exif_with(orientation: int | None = None) -> bytes:
    """EXIF with a camera make, a GPS latitude and (optionally) an orientation."""
    exif = Image.Exif()
    exif[MAKE] = "Canon"
    if orientation:
        exif[ORIENTATION] = orientation
    exif.get_ifd(GPS_IFD)[2] = (48.0, 51.0, 24.0)  # latitude: where the photo was taken
    return exif.tobytes()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_ihdr(width: int, height: int) -> bytes:
    """An 8-bit RGB IHDR chunk for width x height."""
    return png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))


def png_bomb(width: int = 10_000, height: int = 10_000) -> bytes:
    """A small, valid PNG header claiming width x height, without the pixels to fill it."""
    return (
        PNG_SIGNATURE
        + png_ihdr(width, height)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )
