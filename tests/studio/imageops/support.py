"""Pictures for the image-operation tests, built here so that each expectation follows from how
the picture was drawn (where the subject is, which colours it has), never from a recorded
output; and reading the SVGs that vectorize makes."""

import io
import re
from xml.etree import ElementTree

import cv2
import numpy as np
from PIL import Image

from studio import imageops
from studio.rendering import Spec, render
from tests.fakes.images import PNG_SIGNATURE, png_chunk, png_ihdr

SVG = "{http://www.w3.org/2000/svg}"


ORIENTATION = 0x0112


BACKDROP = (236, 236, 232)


RED = (205, 35, 35)


def encode(array: np.ndarray, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def opened(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return np.asarray(image)


def noisy(array: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, array.shape)
    return np.clip(np.asarray(array, np.float32) + noise, 0, 255).astype(np.uint8)


def disc(width: int, height: int, centre: tuple[float, float], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius**2


def circle_on_plain(width: int = 320, height: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """A flat red disc on a flat light backdrop, and the disc's mask."""
    shape = disc(width, height, (width / 2, height / 2), min(width, height) * 0.3)
    picture = np.empty((height, width, 3), np.uint8)
    picture[:] = BACKDROP
    picture[shape] = RED
    return picture, shape


def shaded_object_on_graded_noise() -> tuple[np.ndarray, np.ndarray]:
    """A blue ball lit from the top left (light rim to dark side) on a backdrop that darkens
    towards the bottom, with sensor noise over everything."""
    height, width = 240, 320
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    shape = disc(width, height, (170, 115), 75)
    picture = np.empty((height, width, 3), np.float32)
    picture[:] = BACKDROP
    picture += (yy / height * 24 - 12)[:, :, None]
    light = np.clip(1.2 - np.hypot(xx - 130, yy - 80) / 130, 0.35, 1.0)[:, :, None]
    ball = np.array([60, 110, 230], np.float32) * light
    picture[shape] = ball[shape]
    return noisy(picture, 4.0), shape


def object_on_the_bottom_edge() -> tuple[np.ndarray, np.ndarray]:
    """A green bottle standing on the bottom edge of the frame (its colour shows on one side
    of the border only)."""
    height, width = 240, 320
    yy, xx = np.mgrid[0:height, 0:width]
    shape = (np.abs(xx - 160) < 45) & (yy > 90)
    shape |= disc(width, height, (160, 90), 45)
    picture = np.empty((height, width, 3), np.uint8)
    picture[:] = BACKDROP
    picture[shape] = (40, 140, 70)
    return noisy(picture, 2.5), shape


def sharp_edges(width: int = 48, height: int = 40) -> np.ndarray:
    """Dark and light halves split by a vertical and a diagonal edge, mid-grey levels."""
    yy, xx = np.mgrid[0:height, 0:width]
    light = (xx > width // 2) ^ (xx + yy > width)
    picture = np.where(light, 205, 45).astype(np.uint8)
    return np.dstack([picture, picture, picture])


def textured(width: int = 80, height: int = 60) -> np.ndarray:
    """Gradients, a wave, a red block and noise: something with content at every scale."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    picture = np.stack([xx / width * 255, yy / height * 255, 128 + 60 * np.sin(xx / 5)], -1)
    picture[20:40, 30:50] = (250, 20, 20)
    return noisy(picture, 4.0)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose valid header claims width x height and that has no pixel data at all: any
    attempt to decode it fails as damaged, so a size refusal proves nothing was decoded."""
    return PNG_SIGNATURE + png_ihdr(width, height) + png_chunk(b"IEND", b"")


def with_orientation(array: np.ndarray, orientation: int) -> bytes:
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[ORIENTATION] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def rendered(prompt: str, seed: int, side: int = 256, category: str = "") -> bytes:
    image, _ = render(Spec(prompt=prompt, width=side, height=side, seed=seed, category=category))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def parsed(svg: bytes) -> ElementTree.Element:
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def paths(svg: bytes) -> list[ElementTree.Element]:
    return list(parsed(svg).iter(f"{SVG}path"))


def drawn_box(svg: bytes, fill: str | None = None) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of everything drawn (or of one fill), in the SVG's user
    units: each path's own translate and the enclosing group's scale applied."""
    root = parsed(svg)
    sx = sy = 1.0
    group = root.find(f"{SVG}g")
    if group is not None:
        sx, sy = (float(v) for v in _NUMBER.findall(group.get("transform")))
    xs, ys = [], []
    for path in root.iter(f"{SVG}path"):
        if fill and path.get("fill").lower() != fill:
            continue
        data = path.get("d")
        assert set(re.findall(r"[A-Za-z]", data.replace("e", ""))) <= set("MCLZ"), data
        tx, ty = (float(v) for v in _NUMBER.findall(path.get("transform", "translate(0,0)")))
        numbers = [float(v) for v in _NUMBER.findall(data)]
        xs += [(x + tx) * sx for x in numbers[0::2]]
        ys += [(y + ty) * sy for y in numbers[1::2]]
    return min(xs), min(ys), max(xs), max(ys)


def hex_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])


def near(colour, expected, delta: float) -> bool:
    return np.abs(np.asarray(colour, float) - np.asarray(expected, float)).max() <= delta


def cut(data: bytes) -> tuple[np.ndarray, dict]:
    result, facts = imageops.remove_background(data)
    return opened(result), facts


def upscaled(data: bytes, scale: int, **options) -> tuple[np.ndarray, dict]:
    result, facts = imageops.upscale(data, scale=scale, **options)
    return opened(result), facts


def antialiased_disc_on_clear(side: int = 48) -> np.ndarray:
    """An orange disc with a soft (anti-aliased) rim on fully transparent black."""
    big = disc(side * 8, side * 8, (side * 4, side * 4), side * 2.6).astype(np.float32)
    alpha = cv2.resize(big, (side, side), interpolation=cv2.INTER_AREA)
    picture = np.zeros((side, side, 4), np.uint8)
    picture[alpha > 0, :3] = (240, 200, 60)
    picture[:, :, 3] = np.round(alpha * 255).astype(np.uint8)
    return picture


def three_colours() -> tuple[bytes, list[tuple[int, int, int]], list[float]]:
    """Blue over half the picture, yellow over 30 %, red over 20 %."""
    picture = np.empty((120, 200, 3), np.uint8)
    colours = [(20, 60, 160), (230, 200, 40), (200, 30, 40)]
    picture[:, :100], picture[:, 100:160], picture[:, 160:] = colours
    return encode(picture), colours, [0.5, 0.3, 0.2]


def flat(colour, grain: float = 0.0, grey_grain: bool = True) -> bytes:
    picture = np.empty((96, 96, 3), np.float32)
    picture[:] = colour
    rng = np.random.default_rng(7)
    shape = (96, 96, 1) if grey_grain else (96, 96, 3)
    picture += rng.normal(0, grain, shape)
    return encode(np.clip(picture, 0, 255).astype(np.uint8))


def halves(left, right) -> bytes:
    picture = np.empty((96, 96, 3), np.uint8)
    picture[:, :48], picture[:, 48:] = left, right
    return encode(picture)


def grey16(values: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(values.astype(np.uint16)).save(buffer, format="PNG", **options)
    return buffer.getvalue()


def pillow_encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


OPERATIONS = {
    "vectorize-color": lambda data, p: imageops.vectorize(data, progress=p),
    "vectorize-binary": lambda data, p: imageops.vectorize(data, mode="binary", progress=p),
    "remove-background": lambda data, p: imageops.remove_background(data, progress=p),
    "remove-background-flat": lambda _, p: imageops.remove_background(flat((9, 9, 9)), progress=p),
    "upscale": lambda data, p: imageops.upscale(data, scale=2, progress=p),
    "style": lambda data, p: imageops.style_extract([data, data, data], progress=p),
}
