"""What every provider speaks: requests in, validated media out, failures as ProviderError.

Providers know nothing of Django models, the ledger or storage. The engine (studio.engine)
runs them in a fallback chain, records each attempt, and stores what the first success made.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

# Called with a percentage (0-100) as work advances. It raises Cancelled when the job was
# cancelled meanwhile, which is how a running provider learns to stop.
Progress = Callable[[int], None]


def no_progress(percent: int) -> None:
    """A Progress that ignores reports (tests, benchmarks)."""


@dataclass(frozen=True)
class ImageRequest:
    prompt: str  # the enhanced prompt: what to draw
    width: int
    height: int
    seed: int
    model: str = "flux-pro"  # catalog model key
    category: str = ""
    style: str = ""
    negative_prompt: str = ""
    steps: int = 30
    cfg_scale: float = 7.5
    # Colours to draw with (a saved style's palette), as (r, g, b) tuples.
    palette: tuple[tuple[int, int, int], ...] = ()


@dataclass(frozen=True)
class VideoRequest:
    prompt: str
    width: int
    height: int
    duration: int  # seconds
    fps: int
    seed: int
    model: str = "huggingface"
    style: str = ""
    negative_prompt: str = ""

    @property
    def frames(self) -> int:
        return self.duration * self.fps


@dataclass
class Output:
    """One finished piece of media."""

    data: bytes
    content_type: str  # image/png or video/mp4
    width: int
    height: int
    extra: dict = field(default_factory=dict)  # frames, fps, duration, model id…
    # A raster to make the thumbnail from when `data` is not one (an SVG).
    preview: bytes | None = field(default=None, repr=False)


class ProviderError(Exception):
    """The provider could not produce a usable result; the chain moves on to the next one."""


class Cancelled(Exception):  # a signal, not an error
    """The job was cancelled while the provider was working."""


@dataclass(frozen=True)
class OperationRequest:
    """An image operation on stored sources (vectorization, background_removal, …)."""

    operation: str
    sources: tuple[bytes, ...] = field(repr=False)  # one image; 1-10 for style_creation
    params: dict = field(default_factory=dict)  # mode, detail, scale, prompt…


class Provider(Protocol):
    name: str

    def generate_image(self, request: ImageRequest, progress: Progress) -> Output: ...

    def generate_video(self, request: VideoRequest, progress: Progress) -> Output: ...

    def operate(self, request: OperationRequest, progress: Progress) -> Output:
        """Run an image operation, or raise ProviderError when this provider has none."""
