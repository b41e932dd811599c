"""What the studio offers: sizes, categories, video formats, and what each model promises.
Plain data from the seed's tables (API reference, "Model Credits & Quality")."""

from dataclasses import dataclass

IMAGE_SIZES = {"1024x1024": (1024, 1024), "2048x2048": (2048, 2048), "1920x1080": (1920, 1080)}
DEFAULT_IMAGE_SIZE = "1024x1024"
CATEGORIES = [
    "photorealistic",
    "anime",
    "painting",
    "sketch",
    "realistic",
    "3d-render",
    "abstract",
    "fantasy",
]
VIDEO_STYLES = ["cinematic", "realistic", "animated", "artistic"]


@dataclass(frozen=True)
class ModelInfo:
    quality: str
    seconds: int  # the seed's typical time on the remote service (lower bound of its range)


IMAGE_MODELS = {
    "flux-pro": ModelInfo("premium", 30),
    "flux-dev": ModelInfo("professional", 20),
    "sdxl": ModelInfo("professional", 15),
    "huggingface": ModelInfo("premium", 25),
}


@dataclass(frozen=True)
class VideoModelInfo:
    quality: str
    seconds: int
    max_duration: int
    width: int
    height: int

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"


VIDEO_MODELS = {
    "huggingface": VideoModelInfo("premium", 45, 10, 1280, 720),
    "pika": VideoModelInfo("professional", 30, 5, 1024, 576),
    "luma": VideoModelInfo("professional", 30, 5, 1024, 576),
    "runway": VideoModelInfo("premium", 60, 5, 1280, 720),
}

# The choice lists as the API and its schema name them (ImageModelEnum, VideoModelEnum).
IMAGE_MODEL_CHOICES = list(IMAGE_MODELS)
VIDEO_MODEL_CHOICES = list(VIDEO_MODELS)
