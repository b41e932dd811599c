"""The offline provider: pictures and films painted on this machine by studio.rendering.

Deterministic (the same request gives the same pixels), needs no network and no model
weights, which is why it ends every fallback chain and is all `make run` needs.
"""

import contextlib
import io
import os
import tempfile
from collections.abc import Iterable

import av
from PIL import Image

from studio.providers.base import (
    ImageRequest,
    OperationRequest,
    Output,
    Progress,
    ProviderError,
    VideoRequest,
)
from studio.providers.media import png_bytes
from studio.rendering import Spec, render
from studio.rendering.animate import Film

MAX_IMAGE_SIDE = 4096
MAX_VIDEO_SIDE = 1920
MAX_VIDEO_FRAMES = 60 * 60


class LocalProvider:
    name = "local"

    def generate_image(self, request: ImageRequest, progress: Progress) -> Output:
        _check_size(request.width, request.height, MAX_IMAGE_SIDE)
        spec = Spec(
            prompt=request.prompt,
            width=request.width,
            height=request.height,
            seed=request.seed,
            category=request.category,
            style=request.style,
            negative=request.negative_prompt,
            steps=request.steps,
            cfg=request.cfg_scale,
            palette=tuple(tuple(int(v) for v in colour) for colour in request.palette),
        )
        image, plan = render(spec, progress)
        data = png_bytes(image)
        progress(95)
        extra = {
            "renderer": "local",
            "seed": request.seed,
            "category": spec.category,
            "mood": plan.mood,
            "elements": sorted(plan.tags),
        }
        return Output(data, "image/png", request.width, request.height, extra)

    def operate(self, request: OperationRequest, progress: Progress) -> Output:
        """The image operations, computed on this machine (studio.imageops)."""
        return local_operation(request, progress)

    def generate_video(self, request: VideoRequest, progress: Progress) -> Output:
        _check_size(request.width, request.height, MAX_VIDEO_SIDE)
        if request.fps < 1 or request.duration < 1 or request.frames > MAX_VIDEO_FRAMES:
            raise ProviderError(f"cannot film {request.duration}s at {request.fps} fps")
        # yuv420p stores colour per 2x2 block, so H.264 wants even sides.
        width, height = request.width - request.width % 2, request.height - request.height % 2
        spec = Spec(
            prompt=request.prompt,
            width=width,
            height=height,
            seed=request.seed,
            style=request.style,
            negative=request.negative_prompt,
        )
        progress(2)
        film = Film(spec, width, height, request.frames, progress)
        data = encode_mp4(film, width=width, height=height, fps=request.fps,
                          frames=request.frames, progress=progress)  # fmt: skip
        progress(98)
        extra = {
            "renderer": "local",
            "seed": request.seed,
            "frames": request.frames,
            "fps": request.fps,
            "duration": request.duration,
            "codec": "h264",
            "mood": film.plan.mood,
        }
        return Output(data, "video/mp4", width, height, extra)


def encode_mp4(
    images: Iterable[Image.Image],
    *,
    width: int,
    height: int,
    fps: int,
    frames: int,
    progress: Progress,
) -> bytes:
    """H.264 (yuv420p) in an MP4 whose index comes first, so browsers start playing at once.

    The muxer writes to a temporary file: moving the index to the front (`+faststart`) makes
    FFmpeg reopen the output by name, which an in-memory buffer does not have.
    """
    with tempfile.TemporaryDirectory(prefix="craftframe-film-") as folder:
        path = os.path.join(folder, "film.mp4")
        container = av.open(path, "w", format="mp4", options={"movflags": "+faststart"})
        try:
            stream = container.add_stream(
                "libx264", rate=fps, options={"crf": "22", "preset": "veryfast"}
            )
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            step = max(1, frames // 20)
            for index, image in enumerate(images):
                frame = av.VideoFrame.from_image(image)
                frame.pts = index
                container.mux(stream.encode(frame))
                if index % step == 0:
                    progress(23 + int(72 * index / frames))
            container.mux(stream.encode())
        except BaseException:
            # Cancelled or failed: drop the half-written file without masking the reason.
            with contextlib.suppress(Exception):
                container.close()
            raise
        container.close()
        with open(path, "rb") as handle:
            return handle.read()


def _check_size(width: int, height: int, limit: int) -> None:
    if not (16 <= width <= limit and 16 <= height <= limit):
        raise ProviderError(f"size {width}x{height} is outside 16..{limit} pixels per side")


def traced(raster: bytes, params: dict, progress: Progress, extra: dict | None = None) -> Output:
    """The raster traced as an SVG: the vectorize operation, and a vector generation's second
    step. The raster stays along as the preview thumbnails are made from."""
    from studio import imageops

    mode = params.get("mode", "color")
    svg, facts = imageops.vectorize(
        raster, mode=mode, detail=params.get("detail", "medium"), progress=progress
    )
    extra = {**(extra or {}), "paths": facts["paths"], "mode": mode}
    return Output(svg, "image/svg+xml", facts["width"], facts["height"], extra, preview=raster)


def local_operation(request: OperationRequest, progress: Progress) -> Output:
    from django.conf import settings

    from studio import imageops

    params, source = request.params, request.sources[0]
    operation = request.operation
    if operation == "vectorization":
        return traced(source, params, progress)
    if operation == "background_removal":
        png, facts = imageops.remove_background(source, progress=progress)
        extra = {"method": "grabcut", "foreground_fraction": facts["foreground_fraction"]}
        if facts.get("note"):
            extra["note"] = facts["note"]
        return Output(png, "image/png", facts["width"], facts["height"], extra)
    if operation in ("clarity_upscale", "generative_upscale"):
        png, facts = imageops.upscale(
            source,
            scale=params.get("scale", 2),
            max_pixels=settings.UPLOAD_MAX_PIXELS,
            progress=progress,
        )
        method = "clarity upscale"
        if operation == "generative_upscale":
            # Said as it is: no model invented detail here.
            method = "clarity upscale (local fallback: no generative model configured)"
        return Output(
            png,
            "image/png",
            facts["width"],
            facts["height"],
            {"method": method, "scale": facts["scale"]},
        )
    if operation == "style_creation":
        found = imageops.style_extract(list(request.sources), progress=progress)
        swatch = imageops.palette_swatch(found["palette"])
        with Image.open(io.BytesIO(swatch)) as image:
            width, height = image.size
        return Output(swatch, "image/png", width, height, {"style": found})
    raise ProviderError(f"local: no operation {operation!r}")
