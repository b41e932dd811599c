"""Requests and checks shared by the remote provider tests."""

import io

from PIL import Image

from studio.providers.base import Cancelled, ImageRequest, VideoRequest

# Small, so a client that waits for a hanging server fails fast; the fakes give up on their
# own after HANG_LIMIT (10 s), which the elapsed-time checks below would catch.
TIMEOUT = 1.0


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


FLUX = "black-forest-labs/FLUX.1-dev"


SDXL = "stabilityai/stable-diffusion-xl-base-1.0"


COGVIDEO = "THUDM/CogVideoX-5b"


def image_request(**overrides) -> ImageRequest:
    fields = {"prompt": "a red fox in the snow", "width": 64, "height": 48, "seed": 7}
    return ImageRequest(**{**fields, **overrides})


def video_request(**overrides) -> VideoRequest:
    fields = {"prompt": "waves at dusk", "width": 64, "height": 48, "duration": 2, "fps": 8}
    return VideoRequest(**{**fields, "seed": 3, **overrides})


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def cancel_at(percent: int):
    def progress(reported: int) -> None:
        if reported >= percent:
            raise Cancelled

    return progress


class Reports(list):
    def __call__(self, percent: int) -> None:
        self.append(percent)
