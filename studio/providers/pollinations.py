"""Pollinations: the plain HTTP image API the seed falls back to.

GET {POLLINATIONS_URL}/prompt/{prompt}?width&height&seed&model&nologo=true answers with the
picture itself (JPEG from the real service). The prompt is a single path segment, so all of it
is percent-encoded, "/" included. No video.
"""

import json
from urllib.parse import quote

import requests
from django.conf import settings

from studio.providers import media
from studio.providers.base import ImageRequest, Output, Progress, ProviderError, VideoRequest

# Catalog model key -> Pollinations model: "flux" (its FLUX.1 model) is the nearest to the
# FLUX keys and to "huggingface" (FLUX.1-dev); "turbo" (its SDXL-Turbo model) to "sdxl".
MODELS = {"flux-pro": "flux", "flux-dev": "flux", "huggingface": "flux", "sdxl": "turbo"}
# A body larger than this is not the picture we asked for.
MAX_BYTES = 50 * 1024 * 1024


class PollinationsProvider:
    name = "pollinations"

    def __init__(self, *, url: str | None = None, timeout: float | None = None) -> None:
        self.url = (url or settings.POLLINATIONS_URL or "").rstrip("/")
        self.timeout = float(timeout if timeout is not None else settings.POLLINATIONS_TIMEOUT)

    def image_url(self, prompt: str) -> str:
        return f"{self.url}/prompt/{quote(prompt, safe='')}"

    def generate_image(self, request: ImageRequest, progress: Progress) -> Output:
        if not self.url:
            raise ProviderError("pollinations: POLLINATIONS_URL is not set")
        model = MODELS.get(request.model)
        if model is None:
            raise ProviderError(f"pollinations: no Pollinations model for {request.model!r}")
        params = {
            "width": request.width,
            "height": request.height,
            "seed": request.seed,
            "model": model,
            "nologo": "true",
        }
        progress(10)
        data = self._fetch(self.image_url(request.prompt), params)
        progress(90)
        with media.named("pollinations"):
            output = media.image_output(
                data, width=request.width, height=request.height, extra={"model_id": model}
            )
        progress(100)
        return output

    def generate_video(self, request: VideoRequest, progress: Progress) -> Output:
        raise ProviderError("pollinations: video is not supported")

    def _fetch(self, url: str, params: dict) -> bytes:
        try:
            with requests.get(
                url,
                params=params,
                headers={"Accept": "image/*"},
                timeout=self.timeout,
                stream=True,
            ) as response:
                if response.status_code != 200:
                    reason = f"{response.status_code} {response.reason or ''}".strip()
                    detail = _detail(response)
                    if detail.lower() == f": {response.reason}".lower():
                        detail = ""  # {"error": "Internal Server Error"} says nothing new
                    raise ProviderError(f"pollinations: {reason}{detail}")
                content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
                if not content_type.lower().startswith("image/"):
                    got = content_type or "no content type"
                    raise ProviderError(f"pollinations: expected an image, got {got}")
                return _read_capped(response)
        except requests.Timeout as exc:
            raise ProviderError(f"pollinations: timed out after {self.timeout:g} s") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            # ChunkedEncodingError: the connection broke off in the middle of the body.
            raise ProviderError(
                f"pollinations: connection failed ({media.short(str(exc))})"
            ) from exc
        except requests.RequestException as exc:
            raise ProviderError(
                f"pollinations: request failed ({type(exc).__name__}: {media.short(str(exc))})"
            ) from exc


def _read_capped(response: requests.Response) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise ProviderError(f"pollinations: response is larger than {MAX_BYTES} bytes")
    chunks, total = [], 0
    for chunk in response.iter_content(64 * 1024):
        total += len(chunk)
        if total > MAX_BYTES:
            raise ProviderError(f"pollinations: response is larger than {MAX_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _detail(response: requests.Response) -> str:
    """': <the server's message>' from an error body, when it has a short one."""
    try:
        body = response.raw.read(2048, decode_content=True) or b""
    except Exception:  # the body is a courtesy; the status already says what failed
        return ""
    text = body.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        text = str(payload.get("error") or payload.get("message") or text)
    elif "html" in response.headers.get("Content-Type", "").lower():
        return ""
    text = media.short(text)
    return f": {text}" if text else ""
