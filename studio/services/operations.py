"""Image operations as jobs (issue 4): what each one checks at submission, how the worker
produces it, and what completing it leaves behind (a Style, for style_creation).

They run on the generation lifecycle: same row, hold, queue, claim, storage and completion.
"""

from django.conf import settings

from core.exceptions import DomainError
from organizations.workspace import rows_of
from studio import storage
from studio.engine import Attempt, Produced, run_chain
from studio.models import Asset, Generation, Kind, Style, new_id
from studio.providers.base import OperationRequest, Output, Progress
from studio.providers.local import traced

VECTORIZE = "vectorization"
REMOVE_BACKGROUND = "background_removal"
UPSCALE = "clarity_upscale"
GENERATIVE_UPSCALE = "generative_upscale"
STYLE = "style_creation"
VECTOR_GENERATIONS = ("vector_generation", "vector_illustration")
OPERATIONS = (VECTORIZE, REMOVE_BACKGROUND, UPSCALE, GENERATIVE_UPSCALE, STYLE)

# Rough seconds on one core for a 1024x1024 source (bench/operations_bench.py).
ESTIMATED_SECONDS = {
    VECTORIZE: 3,
    REMOVE_BACKGROUND: 2,
    UPSCALE: 2,
    GENERATIVE_UPSCALE: 3,
    STYLE: 1,
}


class SourceGone(Exception):
    """The job's source disappeared before it ran: a final failure, not a retry."""


class SourceTooLarge(DomainError):
    code = "INVALID_REQUEST"
    http_status = 400
    message = "The result would be too large"


def operation_check(spec: dict, source: Asset | None) -> None:
    """What can be refused before anything is charged."""
    if spec["operation"] in (UPSCALE, GENERATIVE_UPSCALE) and source is not None:
        scale = spec.get("scale", 2)
        pixels = (source.width or 0) * (source.height or 0) * scale * scale
        if pixels > settings.UPLOAD_MAX_PIXELS:
            raise SourceTooLarge(
                f"A {scale}x upscale of {source.width}x{source.height} would be "
                f"{pixels / 1e6:.1f} million pixels; the limit is "
                f"{settings.UPLOAD_MAX_PIXELS / 1e6:.0f} million",
                scale=[f"Too large for this source at {scale}x."],
            )
    raster = source is None or (
        source.content_type.startswith("image/") and source.content_type != "image/svg+xml"
    )
    if not raster:
        raise DomainError(
            "This operation needs a raster image (PNG, JPEG or WebP)",
            source=[f"{source.id} is {source.content_type}"],
        )


def chain_for(operation: str) -> list[str]:
    return settings.OPERATION_PROVIDERS.get(operation, ["local"])


def provider_chain(generation: Generation) -> list[str]:
    """The providers a job goes through, first choice first."""
    if generation.kind == Kind.OPERATION:
        return chain_for(generation.operation)
    if generation.kind == Kind.IMAGE:
        return settings.IMAGE_PROVIDERS
    return settings.VIDEO_PROVIDERS


def operation_produce(
    generation: Generation, progress: Progress, attempts: list[Attempt]
) -> list[Produced]:
    """Read the sources from storage and run the operation through its provider chain."""
    params = generation.params
    if generation.operation == STYLE:
        found = Asset.objects.filter(pk__in=params["references"], user=generation.user_id)
        by_id = {asset.pk: asset for asset in found}
        # In the order the user gave them (the palette's tie-breaks depend on it).
        assets = [by_id[pk] for pk in dict.fromkeys(params["references"]) if pk in by_id]
    else:
        assets = [generation.source_asset] if generation.source_asset else []
    if not assets:
        # Deleted between submission and now: a failure the user can understand, refunded.
        raise SourceGone("the source image was deleted before the job ran")
    try:
        sources = tuple(storage.read(asset.key) for asset in assets)
    except FileNotFoundError:
        raise SourceGone("the source image's file is missing from storage") from None
    request = OperationRequest(generation.operation, sources, params)
    progress(5)
    return [
        run_chain(
            chain_for(generation.operation),
            lambda provider, report: provider.operate(request, report),
            progress,
            attempts,
        )
    ]


def vectorize_output(raster: Output, params: dict, progress: Progress) -> Output:
    """The second step of a vector generation: the picture traced as an SVG."""
    return traced(raster.data, params, progress, extra=raster.extra)


def operation_complete(generation: Generation, files: list[dict]) -> None:
    """Inside the completion transaction: what the finished operation creates."""
    if generation.operation != STYLE:
        return
    found = files[0]["style"]
    style = Style.objects.create(
        id=new_id("sty"),
        user_id=generation.user_id,
        organization_id=generation.organization_id,
        name=generation.params["name"],
        palette=found["palette"],
        descriptors=found["descriptors"],
        prompt_suffix=found["prompt_suffix"],
        generation=generation,
    )
    style.references.set(
        Asset.objects.filter(
            rows_of(user=generation.user_id, organization_id=generation.organization_id),
            pk__in=generation.params["references"],
        )
    )
