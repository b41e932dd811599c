"""The Hugging Face Inference API (hf-inference routing), faked on 127.0.0.1 with the strictness
of tests.fakes.servers: each task's parameters checked, images and masks answered."""

import base64
import binascii
import io
import json
import re
from typing import Any

import pytest
from PIL import Image

from tests.fakes.servers import (
    HF_TOKEN,
    FakeServer,
    Fault,
    Recorded,
    Reply,
    json_reply,
    mp4_video,
    png_image,
)

# --- Parameter checks shared by the fakes ----------------------------------------------------


def _int(low: int, high: int):
    return lambda value: type(value) is int and low <= value <= high


def _number(low: float, high: float):
    return lambda value: (
        isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
    )


def _text(value) -> bool:
    return isinstance(value, str)


def _texts(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _fraction(value) -> bool:
    return _number(0, 1)(value)


def _target_size(value) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"width", "height"}
        and all(_int(16, 4096)(item) for item in value.values())
    )


_SEED = _int(0, 2**63 - 1)
_STEPS = _int(1, 200)
_GUIDANCE = _number(0, 50)
_SIDE = _int(16, 4096)

# The parameters each task accepts (huggingface.js "tasks" specs), and their checks.
HF_TASK_PARAMETERS = {
    "text-to-image": {
        "width": _SIDE,
        "height": _SIDE,
        "num_inference_steps": _STEPS,
        "guidance_scale": _GUIDANCE,
        "seed": _SEED,
        "negative_prompt": _text,
        "scheduler": _text,
    },
    "image-to-image": {
        "prompt": _text,
        "negative_prompt": _text,
        "target_size": _target_size,
        "num_inference_steps": _STEPS,
        "guidance_scale": _GUIDANCE,
        "seed": _SEED,
    },
    "text-to-video": {
        "num_frames": _number(1, 1000),
        "num_inference_steps": _STEPS,
        "guidance_scale": _GUIDANCE,
        "seed": _SEED,
        "negative_prompt": _texts,
    },
    "image-segmentation": {
        "mask_threshold": _fraction,
        "overlap_mask_area_threshold": _fraction,
        "subtask": lambda value: value in ("instance", "panoptic", "semantic"),
        "threshold": _fraction,
    },
}
# Tasks whose input is a picture: a binary body, or base64 in "inputs" when there are parameters.
HF_IMAGE_INPUT_TASKS = frozenset({"image-to-image", "image-segmentation"})

# Model id -> the task its pipeline serves (a model URL serves exactly one).
HF_MODELS = {
    "black-forest-labs/FLUX.1-dev": "text-to-image",
    "black-forest-labs/FLUX.1-schnell": "text-to-image",
    "stabilityai/stable-diffusion-xl-base-1.0": "text-to-image",
    "THUDM/CogVideoX-5b": "text-to-video",
    "timbrooks/instruct-pix2pix": "image-to-image",
    # The studio's default operation models (settings.HF_SEGMENTATION_MODEL, HF_UPSCALE_MODEL).
    "briaai/RMBG-1.4": "image-segmentation",
    "stabilityai/stable-diffusion-x4-upscaler": "image-to-image",
}


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            return image.size
    except Exception:
        return None


def subject_mask(data: bytes) -> Image.Image:
    """A plausible foreground mask (mode L, 0 or 255) of an image: the pixels whose colour is
    clearly not the border's, which is what a segmentation model finds on a plain backdrop."""
    import numpy as np

    with Image.open(io.BytesIO(data)) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    backdrop = np.median(border, axis=0)
    foreground = np.abs(pixels - backdrop).max(axis=2) > 48
    return Image.fromarray(np.where(foreground, 255, 0).astype(np.uint8), "L")


def _b64_png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


# --- Hugging Face ----------------------------------------------------------------------------


class FakeHuggingFace(FakeServer):
    """HF Inference on model URLs: POST /models/<org>/<name>, {"inputs", "parameters"} in JSON,
    a bearer token; answers image/png for image tasks and video/mp4 for video.

    Image-to-image and image segmentation also take the picture itself as the body (what the
    client sends when there are no parameters). Segmentation answers a JSON list of segments,
    {"label", "score", "mask": base64 PNG (mode L) of the image's size}: "foreground" from
    `subject_mask`, and unless `background_segment` is False a "background" segment first.
    """

    _PATH = re.compile(r"/models/(?P<model>[A-Za-z0-9][\w.-]*/[\w.-]+)")

    def __init__(
        self,
        *,
        token: str = HF_TOKEN,
        models: dict[str, str] | None = None,
        video_size: tuple[int, int] = (64, 48),
        video_fps: int = 8,
        background_segment: bool = True,
    ) -> None:
        super().__init__()
        self.token = token
        self.models = dict(HF_MODELS if models is None else models)
        self.video_size = video_size
        self.video_fps = video_fps
        self.background_segment = background_segment

    def check(self, request: Recorded) -> Reply | None:
        if request.method != "POST":
            return json_reply(405, {"error": "Method Not Allowed"})
        match = self._PATH.fullmatch(request.path)
        if not match:
            return json_reply(404, {"error": "Not Found"})
        task = self.models.get(match["model"])
        if task is None:
            return json_reply(404, {"error": f"Model {match['model']} does not exist"})
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return json_reply(401, {"error": "Invalid credentials in Authorization header"})
        content_type = request.headers.get("content-type", "")
        if task in HF_IMAGE_INPUT_TASKS and not content_type.startswith("application/json"):
            # Without parameters the client sends the picture itself as the body: labelled
            # image/* when it knows the type, unlabelled when it was given plain bytes.
            if content_type and not content_type.startswith(("image/", "application/octet-stream")):
                return json_reply(400, {"error": f"expected an image, got {content_type!r}"})
            if _image_size(request.body) is None:
                return json_reply(400, {"error": "body is not an image"})
            return None
        if not content_type.startswith("application/json"):
            return json_reply(400, {"error": f"expected application/json, got {content_type!r}"})
        try:
            request.json = json.loads(request.body)
        except ValueError:
            return json_reply(400, {"error": "body is not valid JSON"})
        problem = self._problem(task, request.json)
        return None if problem is None else json_reply(400, {"error": problem})

    def _problem(self, task: str, body: Any) -> str | None:
        if not isinstance(body, dict):
            return "body must be a JSON object"
        if unexpected := sorted(set(body) - {"inputs", "parameters"}):
            return f"unexpected fields {unexpected}"
        inputs, parameters = body.get("inputs"), body.get("parameters", {})
        if not isinstance(inputs, str) or not inputs.strip():
            return "inputs must be a non-empty string"
        if not isinstance(parameters, dict):
            return "parameters must be an object"
        accepted = HF_TASK_PARAMETERS[task]
        for name, value in parameters.items():
            if name not in accepted:
                return f"unknown parameter {name!r} for {task}"
            if not accepted[name](value):
                return f"invalid value for {name!r}: {value!r}"
        if task in HF_IMAGE_INPUT_TASKS:
            try:
                picture = base64.b64decode(inputs, validate=True)
            except (binascii.Error, ValueError):
                return "inputs must be a base64-encoded image"
            if _image_size(picture) is None:
                return "inputs must be a base64-encoded image"
        return None

    def answer(self, request: Recorded, size: tuple[int, int] | None = None) -> Reply:
        task = self.models[self._PATH.fullmatch(request.path)["model"]]
        body = request.json if isinstance(request.json, dict) else {}
        parameters = body.get("parameters", {})
        seed = parameters.get("seed", 0)
        if task == "text-to-video":
            frames = int(parameters.get("num_frames", 16))
            width, height = size or self.video_size
            return Reply(200, mp4_video(width, height, frames, self.video_fps), "video/mp4")
        if task == "image-segmentation":
            return json_reply(200, self._segments(self._picture(request), size))
        if task == "image-to-image":
            source = self._picture(request)
            target = parameters.get("target_size")
            width, height = size or (
                (target["width"], target["height"]) if target else _image_size(source)
            )
        else:
            width, height = size or (parameters.get("width", 1024), parameters.get("height", 1024))
        return Reply(200, png_image(width, height, seed), "image/png")

    def _special_fault(self, request: Recorded, fault: Fault) -> Reply:
        if fault.kind == "no_segments":
            return json_reply(200, [])
        if fault.kind == "blank_masks":
            return json_reply(200, self._segments(self._picture(request), blank=True))
        return super()._special_fault(request, fault)

    @staticmethod
    def _picture(request: Recorded) -> bytes:
        """The image an image-input task received (already checked by `check`)."""
        if isinstance(request.json, dict):
            return base64.b64decode(request.json["inputs"])
        return request.body

    def _segments(
        self, picture: bytes, size: tuple[int, int] | None = None, *, blank: bool = False
    ) -> list[dict]:
        mask = subject_mask(picture)
        if size:
            mask = mask.resize(size, Image.Resampling.NEAREST)
        if blank:
            mask = Image.new("L", mask.size, 0)
        segments = [{"label": "foreground", "score": 1.0, "mask": _b64_png(mask)}]
        if self.background_segment:
            # First, so a client that takes the first segment as the subject gets it wrong.
            backdrop = mask if blank else mask.point(lambda value: 255 - value)
            segments.insert(0, {"label": "background", "score": 0.98, "mask": _b64_png(backdrop)})
        return segments


# --- Fixtures --------------------------------------------------------------------------------


@pytest.fixture
def fake_huggingface():
    with FakeHuggingFace() as server:
        yield server
