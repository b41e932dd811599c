"""Hugging Face models through huggingface_hub.InferenceClient.

Routing follows settings.HF_PROVIDER:
- "hf-inference" (the default): the client is given the model's URL,
  f"{HF_BASE_URL}/models/{model_id}", as base_url. It then posts {"inputs", "parameters"} straight
  to that URL with the bearer token, and never asks the Hub for model metadata (which it does for
  a bare model id). Tests point HF_BASE_URL at a local fake of that contract.
- any other provider ("fal-ai", "replicate", …): the client routes by provider and model id.

Image operations (`operate`): background removal with an image-segmentation model
(settings.HF_SEGMENTATION_MODEL) and generative upscale with an image-to-image one
(settings.HF_UPSCALE_MODEL); the other operations are local only.
"""

import binascii
import io
import json
from contextlib import contextmanager

from django.conf import settings
from huggingface_hub import ImageToImageTargetSize, InferenceClient
from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status
from PIL import Image, ImageChops, ImageOps, UnidentifiedImageError

from studio.providers import media
from studio.providers.base import (
    ImageRequest,
    OperationRequest,
    Output,
    Progress,
    ProviderError,
    VideoRequest,
)

try:
    import httpx2 as httpx  # the HTTP library of huggingface_hub 2.x
except ImportError:  # pragma: no cover - huggingface_hub 1.x speaks httpx
    import httpx

HF_INFERENCE = "hf-inference"

# Catalog model key -> Hub model id. FLUX.1-pro is not on the Hub (Black Forest Labs serves it
# only from its own API), so "flux-pro", like "huggingface" (the seed's "Hugging Face
# FLUX.1-dev"), runs FLUX.1-dev. "flux-dev" is FLUX.1-dev by name; FLUX.1-schnell would be
# faster, but it ignores guidance and wants at most 4 steps, which our steps/cfg_scale don't fit.
IMAGE_MODELS = {
    "flux-pro": "black-forest-labs/FLUX.1-dev",
    "flux-dev": "black-forest-labs/FLUX.1-dev",
    "huggingface": "black-forest-labs/FLUX.1-dev",
    "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
}
# Pika, Luma and Runway are other companies' models, not on the Hub; CogVideoX-5b is the seed's
# Hugging Face model that starts from text (Stable Video Diffusion needs an input image).
VIDEO_MODELS = {
    "huggingface": "THUDM/CogVideoX-5b",
    "pika": "THUDM/CogVideoX-5b",
    "luma": "THUDM/CogVideoX-5b",
    "runway": "THUDM/CogVideoX-5b",
}

# Segments with these labels are the backdrop; every other segment is part of the subject.
BACKGROUND_LABELS = frozenset({"background", "bg", "unlabeled"})
# Segmentation models work at about 1024 pixels; a larger upload only costs time and may pass
# the API's body limit. The masks come back at the upload's size and are scaled to the source.
SEGMENTATION_MAX_SIDE = 2048
UPSCALE_PROMPT = "high quality, sharp details"
# The formats an upload may have (studio.imageops accepts the same).
SOURCE_FORMATS = ("PNG", "JPEG", "WEBP")


class HuggingFaceProvider:
    name = "huggingface"

    def __init__(
        self,
        *,
        token: str | None = None,
        provider: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.token = token if token is not None else settings.HF_TOKEN
        self.provider = provider or settings.HF_PROVIDER
        self.base_url = (base_url or settings.HF_BASE_URL).rstrip("/")
        self.timeout = float(timeout if timeout is not None else settings.HF_TIMEOUT)

    def model_url(self, model_id: str) -> str:
        return f"{self.base_url}/models/{model_id}"

    def client_for(
        self, model_id: str, *, headers: dict[str, str] | None = None
    ) -> tuple[InferenceClient, str | None]:
        """A client for one model, and the `model=` its task methods must be given.

        `headers` go with every request of that client (and override the client's own).
        """
        if self.provider == HF_INFERENCE:
            # With a URL the client skips the Hub lookups; passing model= would undo that.
            url = self.model_url(model_id)
            client = InferenceClient(
                base_url=url, token=self.token, timeout=self.timeout, headers=headers
            )
            return client, None
        client = InferenceClient(
            provider=self.provider, api_key=self.token, timeout=self.timeout, headers=headers
        )
        return client, model_id

    def generate_image(self, request: ImageRequest, progress: Progress) -> Output:
        model_id = _model_id(IMAGE_MODELS, request.model)
        client, model = self.client_for(model_id)
        progress(10)
        with self._remote_errors(model_id):
            picture = client.text_to_image(
                request.prompt,
                model=model,
                width=request.width,
                height=request.height,
                num_inference_steps=request.steps,
                guidance_scale=request.cfg_scale,
                seed=request.seed,
                negative_prompt=request.negative_prompt or None,
            )
        progress(90)
        output = self._image_output(picture, request.width, request.height, model_id)
        progress(100)
        return output

    def image_to_image(
        self,
        image: bytes,
        prompt: str,
        *,
        model: str,
        width: int | None = None,
        height: int | None = None,
        progress: Progress,
    ) -> Output:
        """`image` changed as `prompt` says; `model` is a catalog key or a Hub model id.

        With width and height the result is exactly that size; without, the model's own.
        """
        model_id = IMAGE_MODELS.get(model) or (model if "/" in model else None)
        if model_id is None:
            raise ProviderError(f"huggingface: no Hugging Face model for {model!r}")
        client, model_arg = self.client_for(model_id)
        sized = width is not None and height is not None
        progress(10)
        with self._remote_errors(model_id):
            picture = client.image_to_image(
                image,
                prompt=prompt,
                model=model_arg,
                target_size=ImageToImageTargetSize(width=width, height=height) if sized else None,
            )
        progress(90)
        output = self._image_output(
            picture, width if sized else None, height if sized else None, model_id
        )
        progress(100)
        return output

    def generate_video(self, request: VideoRequest, progress: Progress) -> Output:
        model_id = _model_id(VIDEO_MODELS, request.model)
        parameters = {
            "num_frames": request.frames,
            "seed": request.seed,
            "negative_prompt": [request.negative_prompt] if request.negative_prompt else None,
        }
        progress(10)
        with self._remote_errors(model_id):
            if self.provider == HF_INFERENCE:
                data = self._post_to_model_url(model_id, request.prompt, parameters)
            else:
                client, model = self.client_for(model_id)
                data = client.text_to_video(request.prompt, model=model, **parameters)
        progress(90)
        extra = {"model_id": model_id, "hf_provider": self.provider, "duration": request.duration}
        with media.named("huggingface"):
            output = media.video_output(data, extra=extra)
        progress(100)
        return output

    def operate(self, request: OperationRequest, progress: Progress) -> Output:
        """Background removal and generative upscale; the other operations are local only."""
        if request.operation == "background_removal":
            return self._remove_background(request.sources[0], progress)
        if request.operation == "generative_upscale":
            return self._upscale(request, progress)
        raise ProviderError(f"huggingface: no operation {request.operation!r}")

    def _remove_background(self, source: bytes, progress: Progress) -> Output:
        """The source with everything the segmentation model did not call subject transparent."""
        model_id = settings.HF_SEGMENTATION_MODEL
        picture = _source_picture(source)
        shown = _flattened(picture)
        shown.thumbnail((SEGMENTATION_MAX_SIDE, SEGMENTATION_MAX_SIDE), Image.Resampling.LANCZOS)
        upload = media.png_bytes(shown)
        # hf-inference takes the picture as the body (no parameters, so no JSON), and the client
        # sends bytes without a Content-Type; a client-wide header is huggingface_hub's way to
        # label them. Other providers wrap the picture in JSON themselves: no header there.
        headers = {"Content-Type": "image/png"} if self.provider == HF_INFERENCE else None
        client, model = self.client_for(model_id, headers=headers)
        progress(10)
        with self._remote_errors(model_id):
            try:
                segments = client.image_segmentation(upload, model=model)
            # The client parses the JSON and decodes every base64 mask itself (fully: it
            # compares each PIL image with itself when storing it), so junk surfaces here.
            except (json.JSONDecodeError, UnicodeDecodeError, binascii.Error, TypeError) as exc:
                raise ProviderError(
                    f"huggingface: response is not a valid segmentation "
                    f"({type(exc).__name__}: {media.short(str(exc), 120)})"
                ) from exc
            except (OSError, SyntaxError) as exc:
                if isinstance(exc, httpx.HTTPError):
                    raise  # HTTP status, timeout, transport: _remote_errors says which
                raise ProviderError(_bad_mask(exc)) from exc
        progress(90)
        alpha = _subject_alpha(segments, picture.size)
        if "A" in picture.getbands():
            alpha = ImageChops.darker(alpha, picture.getchannel("A"))  # keep what was already cut
        if alpha.getextrema()[1] == 0:
            raise ProviderError("huggingface: the segmentation found no subject")
        cutout = picture.convert("RGBA")
        cutout.putalpha(alpha)
        opaque = sum(alpha.histogram()[128:])
        extra = {
            "method": "segmentation",
            "model_id": model_id,
            "hf_provider": self.provider,
            "foreground_fraction": round(opaque / (picture.width * picture.height), 4),
        }
        output = Output(media.png_bytes(cutout), "image/png", picture.width, picture.height, extra)
        progress(100)
        return output

    def _upscale(self, request: OperationRequest, progress: Progress) -> Output:
        """The source at scale x its size, redrawn by an image-to-image model."""
        scale = request.params.get("scale", 2)
        if isinstance(scale, bool) or scale not in (2, 4):
            raise ProviderError(f"huggingface: scale must be 2 or 4, not {scale!r}")
        scale = int(scale)
        picture = _source_picture(request.sources[0])
        width, height = picture.width * scale, picture.height * scale
        if width * height > media.MAX_PIXELS:
            raise ProviderError(f"huggingface: {width}x{height} is too large to upscale to")
        # The upright picture, so the model and the target size agree on which side is which.
        output = self.image_to_image(
            media.png_bytes(picture),
            request.params.get("prompt") or UPSCALE_PROMPT,
            model=settings.HF_UPSCALE_MODEL,
            width=width,
            height=height,
            progress=progress,
        )
        output.extra.update({"method": "generative", "scale": scale})
        return output

    def _post_to_model_url(self, model_id: str, prompt: str, parameters: dict) -> bytes:
        """The hf-inference contract, posted by hand for text-to-video.

        InferenceClient's hf-inference helper has no text-to-video task (it raises ValueError
        before sending anything), so this sends what it sends for text_to_image, through the
        same session, headers and error handling of huggingface_hub.
        """
        body = {
            "inputs": prompt,
            "parameters": {name: value for name, value in parameters.items() if value is not None},
        }
        headers = {**build_hf_headers(token=self.token), "accept": "video/mp4"}
        with get_session().stream(
            "POST", self.model_url(model_id), json=body, headers=headers, timeout=self.timeout
        ) as response:
            hf_raise_for_status(response)
            return response.read()

    def _image_output(
        self, picture: Image.Image, width: int | None, height: int | None, model_id: str
    ) -> Output:
        # The client hands back a lazily opened PIL image: only its header has been read.
        with picture:
            if picture.width * picture.height > media.MAX_PIXELS:
                raise ProviderError("huggingface: response image is too large")
            size = picture.size
            try:
                if picture.mode not in ("RGB", "RGBA"):
                    picture = picture.convert("RGBA" if "A" in picture.getbands() else "RGB")
                data = media.png_bytes(picture)
            except Exception as exc:  # whatever decoding remote bytes raises
                raise ProviderError(
                    f"huggingface: response is not a valid image ({type(exc).__name__})"
                ) from exc
        extra = {"model_id": model_id, "hf_provider": self.provider}
        with media.named("huggingface"):
            return media.image_output(
                data, width=width or size[0], height=height or size[1], extra=extra
            )

    @contextmanager
    def _remote_errors(self, model_id: str):
        """Everything a remote call can raise, as a ProviderError that says what happened."""
        try:
            yield
        except (InferenceTimeoutError, httpx.TimeoutException, TimeoutError) as exc:
            raise ProviderError(
                f"huggingface: timed out after {self.timeout:g} s waiting for {model_id}"
            ) from exc
        except HfHubHTTPError as exc:
            raise ProviderError(f"huggingface: {_describe_http_error(exc)}") from exc
        except Image.DecompressionBombError as exc:
            raise ProviderError("huggingface: response image is too large") from exc
        except (UnidentifiedImageError, SyntaxError) as exc:
            # The client decodes images itself (PIL.Image.open): junk and empty bodies end here.
            raise ProviderError(
                f"huggingface: response is not a valid image ({type(exc).__name__})"
            ) from exc
        except (httpx.HTTPError, OSError) as exc:
            raise ProviderError(
                f"huggingface: connection failed ({type(exc).__name__}: {media.short(str(exc))})"
            ) from exc
        except ValueError as exc:
            # The client's own refusals: an unknown provider, a task a provider lacks.
            raise ProviderError(f"huggingface: {media.short(str(exc))}") from exc


def _model_id(table: dict[str, str], key: str) -> str:
    try:
        return table[key]
    except KeyError:
        raise ProviderError(f"huggingface: no Hugging Face model for {key!r}") from None


def _source_picture(data: bytes) -> Image.Image:
    """The stored source decoded, upright by its EXIF orientation (as studio.imageops reads it),
    as RGB or RGBA."""
    try:
        with Image.open(io.BytesIO(data), formats=SOURCE_FORMATS) as image:
            if image.width * image.height > media.MAX_PIXELS:
                raise ProviderError(
                    f"huggingface: the source is too large ({image.width}x{image.height})"
                )
            image.load()
            picture = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError:
        raise ProviderError("huggingface: the source is too large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ProviderError(
            f"huggingface: the source is not a readable image ({type(exc).__name__})"
        ) from None
    transparent = "A" in picture.getbands() or "transparency" in picture.info
    return picture.convert("RGBA" if transparent else "RGB")


def _flattened(picture: Image.Image) -> Image.Image:
    """What the segmentation model is shown: RGB, transparent parts on white (as a plain
    backdrop, not whatever colour hides under alpha 0)."""
    if picture.mode != "RGBA":
        return picture.copy()
    white = Image.new("RGBA", picture.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, picture).convert("RGB")


def _subject_alpha(segments: list, size: tuple[int, int]) -> Image.Image:
    """The union (per-pixel maximum) of the masks of every segment that is not backdrop,
    at `size`; ProviderError when there is none."""
    alpha = None
    for segment in segments:
        if str(segment.label or "").strip().lower() in BACKGROUND_LABELS:
            continue
        mask = segment.mask
        if not isinstance(mask, Image.Image):
            raise ProviderError("huggingface: a segment came without a mask")
        try:
            with mask:
                if mask.width * mask.height > media.MAX_PIXELS:
                    raise ProviderError("huggingface: response mask is too large")
                # Already decoded by today's client; a client that stops doing so fails here.
                layer = mask.convert("L")
        except (OSError, SyntaxError, ValueError) as exc:
            raise ProviderError(_bad_mask(exc)) from exc
        if layer.size != size:
            layer = layer.resize(size, Image.Resampling.BILINEAR)
        alpha = layer if alpha is None else ImageChops.lighter(alpha, layer)
    if alpha is None:
        raise ProviderError("huggingface: the segmentation found no subject")
    return alpha


def _bad_mask(exc: Exception) -> str:
    return f"huggingface: a segment's mask is not a valid image ({type(exc).__name__})"


def _describe_http_error(exc: HfHubHTTPError) -> str:
    """'503 Service Unavailable: Model is loading (ready in about 20 s)'."""
    response = exc.response
    reason = getattr(response, "reason_phrase", "")
    text = f"{response.status_code} {reason}".strip()
    if exc.server_message and exc.server_message.strip().lower() != reason.lower():
        text += f": {media.short(exc.server_message)}"
    try:
        estimated = response.json().get("estimated_time")
    except Exception:  # no JSON body: nothing more to say
        estimated = None
    if isinstance(estimated, int | float):
        text += f" (ready in about {round(estimated)} s)"
    return text
