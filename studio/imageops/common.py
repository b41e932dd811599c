"""Decoding uploads safely into numpy arrays and encoding results as PNG.

Every operation starts here, so one place decides what counts as a usable picture: a PNG,
JPEG or WebP of at most `max_pixels`, turned upright by its EXIF orientation, as 8-bit RGB or
RGBA. Anything else is a ProviderError whose message can be shown to the user.
"""

import contextlib
import io

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from studio.providers.base import ProviderError

# The application's upload limit; operations that enlarge check their output separately.
MAX_PIXELS = 40_000_000
# Only the web formats: Pillow's other plugins (EPS runs Ghostscript, for one) are attack
# surface that an image operation does not need.
FORMATS = ("PNG", "JPEG", "WEBP")
_NAMED_SIGNATURES = ((b"GIF8", "GIF"), (b"%!PS", "PostScript"), (b"%PDF", "PDF"), (b"<svg", "SVG"))


def decode(data: bytes, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The picture as a uint8 array (h, w, 3) or, when it has transparency, (h, w, 4)."""
    with _reading(max_pixels):
        image = _open(data, max_pixels)
        image.load()
        image = ImageOps.exif_transpose(image)
    return _to_array(image)


def probe(data: bytes, *, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """(width, height) from the header alone, after the same checks as decode()."""
    with _reading(max_pixels):
        return _open(data, max_pixels).size


def _open(data: bytes, max_pixels: int) -> Image.Image:
    if not data:
        raise ProviderError("the image is empty (0 bytes)")
    for signature, name in _NAMED_SIGNATURES:
        if data[:16].lstrip().startswith(signature):
            raise ProviderError(f"{name} images are not supported; use PNG, JPEG or WebP")
    # open() reads only the header, so the size is checked before any pixel is decoded.
    image = Image.open(io.BytesIO(data), formats=FORMATS)
    if image.width * image.height > max_pixels:
        raise ProviderError(
            f"the image is too large ({image.width}x{image.height}); "
            f"the limit is {max_pixels:,} pixels"
        )
    return image


@contextlib.contextmanager
def _reading(max_pixels: int):
    """Pillow's failures while reading, as ProviderErrors with a message for people."""
    try:
        yield
    except Image.DecompressionBombError:
        raise ProviderError(f"the image is too large; the limit is {max_pixels:,} pixels") from None
    except UnidentifiedImageError:
        raise ProviderError("not a readable image; use PNG, JPEG or WebP") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Truncated or corrupt data surfaces here, on load().
        raise ProviderError(f"the image data is damaged ({exc})") from None


def _to_array(image: Image.Image) -> np.ndarray:
    if image.mode in ("I", "I;16", "I;16B", "I;16L"):
        # 16-bit greyscale PNG (the only deep mode Pillow keeps for these formats): convert("L")
        # would clip, not scale. Always by 257: a dark 16-bit picture whose values all sit
        # under 256 is nearly black, not an 8-bit picture in disguise.
        values = np.asarray(image, dtype=np.float32)
        grey = np.clip(values / 257.0 + 0.5, 0, 255).astype(np.uint8)
        rgb = np.repeat(grey[:, :, None], 3, axis=2)
        key = image.info.get("transparency")  # a tRNS chunk: one grey value is see-through
        if isinstance(key, int) and (values == key).any():
            alpha = np.where(values == key, 0, 255).astype(np.uint8)
            return np.ascontiguousarray(np.dstack([rgb, alpha]))
        return np.ascontiguousarray(rgb)
    transparent = "A" in image.getbands() or "transparency" in image.info
    if image.mode == "CMYK":
        image = image.convert("RGB")  # Pillow inverts Adobe CMYK JPEGs correctly on the way
    array = np.asarray(image.convert("RGBA" if transparent else "RGB"))
    if transparent and array[:, :, 3].min() == 255:
        array = array[:, :, :3]  # an alpha channel that hides nothing is not kept
    return np.ascontiguousarray(array)


def encode_png(array: np.ndarray, *, compress_level: int = 1) -> bytes:
    """PNG bytes of a uint8 (h, w), (h, w, 3) or (h, w, 4) array in RGB(A) order.

    OpenCV's encoder is used because it is several times faster than Pillow's on the large
    outputs of upscaling; level 1 trades a little size for speed, as elsewhere in the studio.
    """
    if array.ndim == 3 and array.shape[2] == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA)
    ok, buffer = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, compress_level])
    if not ok:
        raise ProviderError("could not encode the result as PNG")
    return buffer.tobytes()


def fit_within(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled down so the longer side is at most max_side; never enlarged."""
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    ratio = max_side / longest
    return max(1, round(width * ratio)), max(1, round(height * ratio))


def shrink(array: np.ndarray, max_side: int) -> np.ndarray:
    """The array resized (area averaging) so its longer side is at most max_side."""
    height, width = array.shape[:2]
    size = fit_within(width, height, max_side)
    if size == (width, height):
        return array
    return cv2.resize(array, size, interpolation=cv2.INTER_AREA)


def kmeans(points: np.ndarray, k: int, iterations: int = 12) -> np.ndarray:
    """Deterministic k-means centres of float points (n, d): farthest-point start, Lloyd steps.

    No random start, so the same picture always gives the same model (and the same palette).
    """
    points = np.asarray(points, np.float32)
    if len(points) == 0:
        raise ValueError("no points to cluster")
    centres = [np.median(points, axis=0)]
    nearest = np.linalg.norm(points - centres[0], axis=1)
    for _ in range(1, k):
        index = int(np.argmax(nearest))
        if nearest[index] <= 1e-6:
            break  # fewer distinct colours than clusters
        centres.append(points[index])
        np.minimum(nearest, np.linalg.norm(points - points[index], axis=1), out=nearest)
    centres = np.array(centres, np.float32)
    for _ in range(iterations):
        labels = nearest_centre(points, centres)
        moved = centres.copy()
        for index in range(len(centres)):
            members = points[labels == index]
            if len(members):
                moved[index] = members.mean(axis=0)
        if np.allclose(moved, centres, atol=1e-3):
            break
        centres = moved
    return centres


def nearest_centre(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """For each point, the index of its nearest centre."""
    distances = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    return np.argmin(distances, axis=1)
