"""A provider that answers at once, for tests and the benchmark: the pipeline without the art.

Images are a ready tiny flat grey PNG (16 x 16, whatever size was asked: what is measured with
it is the platform, not pixel work); videos a flat grey H.264 MP4 of the requested size, frame
count and rate. Each is encoded once and then served from memory, so a repeated request costs
nothing; the bytes depend only on the shape (deterministic).
"""

import io
from functools import lru_cache

from PIL import Image

from studio.providers import media
from studio.providers.base import ImageRequest, Output, Progress, ProviderError, VideoRequest

GREY = (128, 128, 128)
TINY = 16


class InstantProvider:
    name = "instant"

    def generate_image(self, request: ImageRequest, progress: Progress) -> Output:
        data = png_of_size(TINY, TINY)
        progress(100)
        return Output(
            data, "image/png", TINY, TINY, {"requested_size": f"{request.width}x{request.height}"}
        )

    def generate_video(self, request: VideoRequest, progress: Progress) -> Output:
        if request.width % 2 or request.height % 2:
            # H.264 in yuv420p halves the chroma planes: odd sides cannot be encoded.
            raise ProviderError("instant: video width and height must be even")
        data = mp4_of_shape(request.width, request.height, request.frames, request.fps)
        progress(100)
        extra = {"frames": request.frames, "fps": float(request.fps), "duration": request.duration}
        return Output(data, "video/mp4", request.width, request.height, extra)


# Bounded, because sizes come from requests; the API keeps them to a few dozen shapes anyway.
@lru_cache(maxsize=32)
def png_of_size(width: int, height: int) -> bytes:
    return media.png_bytes(Image.new("RGB", (width, height), GREY), compress_level=9)


@lru_cache(maxsize=8)
def mp4_of_shape(width: int, height: int, frames: int, fps: int) -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        frame = av.VideoFrame.from_image(Image.new("RGB", (width, height), GREY))
        for _ in range(frames):
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()
