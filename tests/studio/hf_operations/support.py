"""Pictures, requests and answers shared by the Hugging Face operation tests."""

import base64
import io

import numpy as np
from PIL import Image, ImageDraw

from studio.providers.base import Cancelled, OperationRequest

TIMEOUT = 1.0


SEGMENTER = "briaai/RMBG-1.4"


UPSCALER = "stabilityai/stable-diffusion-x4-upscaler"


SIDE = 256


CENTRE, RADIUS = 128, 64  # the red circle of `circle_png`


def circle_png(side: int = SIDE) -> bytes:
    """A red circle on white: an unmistakable subject on a plain backdrop."""
    image = Image.new("RGB", (side, side), "white")
    ImageDraw.Draw(image).ellipse(
        (CENTRE - RADIUS, CENTRE - RADIUS, CENTRE + RADIUS, CENTRE + RADIUS), fill=(220, 20, 20)
    )
    return encode(image)


def encode(image: Image.Image, image_format: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image


def circle_regions(side: int = SIDE) -> tuple[np.ndarray, np.ndarray]:
    """(well inside the circle, well outside it): boolean masks that ignore the rim."""
    ys, xs = np.mgrid[0:side, 0:side]
    distance = np.hypot(xs - CENTRE, ys - CENTRE)
    return distance < RADIUS - 6, distance > RADIUS + 6


def b64_mask(mask: np.ndarray) -> str:
    return base64.b64encode(encode(Image.fromarray(mask.astype(np.uint8) * 255, "L"))).decode()


def removal(source: bytes | None = None) -> OperationRequest:
    return OperationRequest("background_removal", (source or circle_png(),))


def upscale(source: bytes, **params) -> OperationRequest:
    return OperationRequest("generative_upscale", (source,), params)


def alpha_of(data: bytes) -> np.ndarray:
    image = decoded(data)
    assert image.mode == "RGBA"
    return np.asarray(image.getchannel("A"))


def cancel_at(percent: int):
    def progress(reported: int) -> None:
        if reported >= percent:
            raise Cancelled

    return progress


class Reports(list):
    def __call__(self, percent: int) -> None:
        self.append(percent)
