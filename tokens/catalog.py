"""What things cost, in credits (the seed's tables). Plain data; no Django needed."""

from dataclasses import dataclass

from tokens.exceptions import UnknownOperation


@dataclass(frozen=True)
class Price:
    operation: str
    cost: int
    model: str | None = None
    unit: str = "request"
    description: str = ""


IMAGE_GENERATION = "image_generation"
VIDEO_GENERATION = "video_generation"

IMAGE_MODELS: dict[str, Price] = {
    p.model: p
    for p in (
        Price(
            IMAGE_GENERATION, 4, "flux-pro", "image", "FLUX Pro, premium quality, up to 2048x2048"
        ),
        Price(IMAGE_GENERATION, 3, "flux-dev", "image", "FLUX Dev, professional quality"),
        Price(IMAGE_GENERATION, 3, "sdxl", "image", "Stable Diffusion XL, professional quality"),
        Price(IMAGE_GENERATION, 4, "huggingface", "image", "Hugging Face FLUX.1-dev, premium"),
    )
}

VIDEO_MODELS: dict[str, Price] = {
    p.model: p
    for p in (
        Price(VIDEO_GENERATION, 5, "huggingface", "video", "CogVideoX-5B, up to 10 s at 1280x720"),
        Price(VIDEO_GENERATION, 4, "pika", "video", "Pika, up to 5 s at 1024x576"),
        Price(VIDEO_GENERATION, 4, "luma", "video", "Luma, up to 5 s at 1024x576"),
        Price(VIDEO_GENERATION, 5, "runway", "video", "Runway, up to 5 s at 1280x720"),
    )
}

OPERATIONS: dict[str, Price] = {
    p.operation: p
    for p in (
        Price("raster_generation", 4, description="Raster image generation"),
        Price("vector_generation", 8, description="Generate, then vectorize, as one job"),
        Price("vector_illustration", 8, description="Vector illustration"),
        Price("vectorization", 4, description="Raster to SVG"),
        Price("background_removal", 4, description="Cut the subject out (PNG with alpha)"),
        Price("clarity_upscale", 4, description="2x or 4x detail-preserving upscale"),
        Price("generative_upscale", 80, description="AI upscale that invents detail"),
        Price("style_creation", 4, description="A reusable style from reference images"),
    )
}

DEFAULT_IMAGE_MODEL = "flux-pro"
DEFAULT_VIDEO_MODEL = "huggingface"


def all_prices() -> list[Price]:
    return [*IMAGE_MODELS.values(), *VIDEO_MODELS.values(), *OPERATIONS.values()]


def price_of(operation: str, model: str | None = None) -> Price:
    """The unit price of an operation (and model, for generations)."""
    if operation == IMAGE_GENERATION:
        table, chosen = IMAGE_MODELS, model or DEFAULT_IMAGE_MODEL
    elif operation == VIDEO_GENERATION:
        table, chosen = VIDEO_MODELS, model or DEFAULT_VIDEO_MODEL
    else:
        if operation not in OPERATIONS:
            raise UnknownOperation(
                f"Unknown operation {operation!r}",
                field="operation",
                allowed=sorted([IMAGE_GENERATION, VIDEO_GENERATION, *OPERATIONS]),
            )
        return OPERATIONS[operation]
    if chosen not in table:
        raise UnknownOperation(
            f"Unknown model {chosen!r} for {operation}", field="model", allowed=sorted(table)
        )
    return table[chosen]


def cost_of(operation: str, model: str | None = None, quantity: int = 1) -> int:
    if quantity < 1:
        raise UnknownOperation("quantity must be at least 1", field="quantity")
    return price_of(operation, model).cost * quantity
