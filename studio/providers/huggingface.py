"""Hugging Face models through huggingface_hub.InferenceClient.

Routing follows settings.HF_PROVIDER:
- "hf-inference" (the default): the client is given the model's URL,
  f"{HF_BASE_URL}/models/{model_id}", as base_url. It then posts {"inputs", "parameters"} straight
  to that URL with the bearer token, and never asks the Hub for model metadata (which it does for
  a bare model id). Tests point HF_BASE_URL at a local fake of that contract.
- any other provider ("fal-ai", "replicate", …): the client routes by provider and model id.
"""

import re
from contextlib import contextmanager

from django.conf import settings
from huggingface_hub import ImageToImageTargetSize, InferenceClient
from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status
from PIL import Image, UnidentifiedImageError

from studio.providers import media
from studio.providers.base import ImageRequest, Output, Progress, ProviderError, VideoRequest

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

    def client_for(self, model_id: str) -> tuple[InferenceClient, str | None]:
        """A client for one model, and the `model=` its task methods must be given."""
        if self.provider == HF_INFERENCE:
            # With a URL the client skips the Hub lookups; passing model= would undo that.
            url = self.model_url(model_id)
            return InferenceClient(base_url=url, token=self.token, timeout=self.timeout), None
        client = InferenceClient(provider=self.provider, api_key=self.token, timeout=self.timeout)
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
        with _named():
            output = media.video_output(data, extra=extra)
        progress(100)
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
        with _named():
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
                f"huggingface: connection failed ({type(exc).__name__}: {_short(str(exc))})"
            ) from exc
        except ValueError as exc:
            # The client's own refusals: an unknown provider, a task a provider lacks.
            raise ProviderError(f"huggingface: {_short(str(exc))}") from exc


def _model_id(table: dict[str, str], key: str) -> str:
    try:
        return table[key]
    except KeyError:
        raise ProviderError(f"huggingface: no Hugging Face model for {key!r}") from None


def _describe_http_error(exc: HfHubHTTPError) -> str:
    """'503 Service Unavailable: Model is loading (ready in about 20 s)'."""
    response = exc.response
    reason = getattr(response, "reason_phrase", "")
    text = f"{response.status_code} {reason}".strip()
    if exc.server_message and exc.server_message.strip().lower() != reason.lower():
        text += f": {_short(exc.server_message)}"
    try:
        estimated = response.json().get("estimated_time")
    except Exception:  # no JSON body: nothing more to say
        estimated = None
    if isinstance(estimated, int | float):
        text += f" (ready in about {round(estimated)} s)"
    return text


def _short(text: str, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextmanager
def _named():
    """media's errors, prefixed with this provider's name."""
    try:
        yield
    except ProviderError as exc:
        raise ProviderError(f"huggingface: {exc}") from None
