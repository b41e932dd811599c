"""The seed's response shapes for generations (API reference, "Generation Status")."""

from django.conf import settings
from django.utils import timezone

from core.serializers import iso
from studio import storage
from studio.models import ACTIVE, Generation, Kind, Status
from studio.options import IMAGE_MODELS, IMAGE_SIZES, VIDEO_MODELS
from studio.services.operations import ESTIMATED_SECONDS


def _model_info(generation: Generation):
    return (IMAGE_MODELS if generation.kind == Kind.IMAGE else VIDEO_MODELS)[generation.model]


def estimated_seconds(generation: Generation, chain: list[str]) -> int:
    """What to tell the client to expect: the seed's time for remote models, and for the
    local renderer what it takes on a modest core."""
    if generation.kind == Kind.OPERATION:
        return ESTIMATED_SECONDS.get(generation.operation, 3)
    if chain and chain[0] != "local":
        return _model_info(generation).seconds
    params = generation.params
    if generation.kind == Kind.VIDEO:
        return max(2, params["duration"] * params["fps"] // 40)
    width, height = IMAGE_SIZES[params.get("size", "1024x1024")]
    return max(1, round(width * height / 2_000_000 * params.get("num_images", 1)))


def _operation_metadata(generation: Generation) -> dict:
    params = generation.params
    meta = {
        "operation": generation.operation,
        "source": params.get("source"),
        "credits_used": generation.cost,
    }
    meta.update(
        {k: params[k] for k in ("mode", "detail", "scale", "prompt", "name") if k in params}
    )
    if "references" in params:
        meta["references"] = params["references"]
    if generation.status == Status.COMPLETED and generation.outputs:
        first = generation.outputs[0]
        meta.update(
            provider=generation.source,
            generation_time=generation.generation_time,
            width=first.get("width"),
            height=first.get("height"),
            content_type=first.get("content_type"),
            file_size=first.get("size"),
        )
        meta.update({k: first[k] for k in ("method", "paths", "note") if k in first})
        if generation.operation == "style_creation" and hasattr(generation, "made_style"):
            meta["style_id"] = generation.made_style.id
    if generation.status == Status.FAILED:
        meta["retry_possible"] = True
    return meta


def _metadata(generation: Generation) -> dict:
    if generation.kind == Kind.OPERATION:
        return _operation_metadata(generation)
    info = _model_info(generation)
    meta = {
        "model": generation.model,
        "quality": info.quality,
        "seed": generation.seed,
        "credits_used": generation.cost,
        "enhancedPrompt": generation.enhanced_prompt,
    }
    params = generation.params
    if generation.kind == Kind.IMAGE:
        width, height = IMAGE_SIZES[params.get("size", "1024x1024")]
        meta.update(
            width=width,
            height=height,
            category=generation.category or None,
            steps=params.get("steps"),
            cfg_scale=params.get("cfg_scale"),
            num_images=params.get("num_images", 1),
        )
    else:
        meta.update(
            duration=params["duration"],
            fps=params["fps"],
            resolution=info.resolution,
            frames=params["duration"] * params["fps"],
        )
    if generation.style:
        meta["style"] = generation.style
    if generation.style_ref_id:
        meta["style_id"] = generation.style_ref_id
    if generation.operation:  # vector_generation / vector_illustration
        meta["operation"] = generation.operation
    if generation.project_id:
        meta["project"] = generation.project_id
    if generation.negative_prompt:
        meta["negative_prompt"] = generation.negative_prompt
    if generation.status == Status.COMPLETED:
        first = generation.outputs[0] if generation.outputs else {}
        meta.update(
            source=generation.source,
            generation_time=generation.generation_time,
            width=first.get("width", meta.get("width")),
            height=first.get("height", meta.get("height")),
            file_size=first.get("size"),
        )
        if generation.kind == Kind.VIDEO and first.get("frames"):
            meta["frames"] = first["frames"]
    if generation.status == Status.FAILED:
        meta["retry_possible"] = True
    return meta


def media_url(key: str, request=None, *, filename: str | None = None) -> str:
    """A signed URL for a stored file, absolute: S3 signs absolute URLs itself; the app's own
    media URLs are made absolute from the request, or PUBLIC_BASE_URL where there is none
    (webhooks). With `filename`, the URL downloads the file under that name."""
    url = storage.url_for(key, filename=filename)
    if url.startswith(("http://", "https://")):
        return url
    if request is not None:
        return request.build_absolute_uri(url)
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL.rstrip("/") + url
    return url


def download_name(generation: Generation, index: int, key: str) -> str:
    return f"{generation.id}-{index + 1}.{key.rsplit('.', 1)[-1]}"


def _files(generation: Generation, request=None) -> list[dict]:
    return [
        {
            "url": media_url(output["key"], request),
            "download_url": media_url(
                output["key"], request, filename=download_name(generation, index, output["key"])
            ),
            "thumbnail_url": media_url(output["thumbnail_key"], request),
            "width": output["width"],
            "height": output["height"],
            "content_type": output["content_type"],
            "size": output["size"],
        }
        for index, output in enumerate(generation.outputs)
    ]


def generation_detail(generation: Generation, chain: list[str], request=None) -> dict:
    """GET /studio/generation/<id>."""
    body = {
        "id": generation.id,
        "type": generation.kind,
        "status": generation.status,
        "progress": 100 if generation.status == Status.COMPLETED else generation.progress,
        "prompt": generation.prompt,
        "createdAt": iso(generation.created_at),
        "starred": generation.starred,
        "metadata": _metadata(generation),
    }
    body["stage"] = stage(
        kind=generation.kind,
        operation=generation.operation,
        status=generation.status,
        progress=generation.progress,
    )[0]
    if generation.status in ACTIVE:
        body["estimated_remaining"] = _remaining(generation, chain)
    if generation.status == Status.COMPLETED:
        files = _files(generation, request)
        body.update(url=files[0]["url"], thumbnail_url=files[0]["thumbnail_url"], files=files)
        body["completedAt"] = iso(generation.finished_at)
    if generation.status in (Status.FAILED, Status.CANCELLED):
        body["error"] = generation.error
        body["retry_possible"] = True
    if generation.provider_attempts:
        body["attempts"] = generation.provider_attempts
    if generation.retry_of_id:
        body["retryOf"] = generation.retry_of_id
    return body


def _remaining(generation: Generation, chain: list[str]) -> int:
    started = generation.started_at.timestamp() if generation.started_at else None
    return remaining_seconds(
        estimate=estimated_seconds(generation, chain),
        status=generation.status,
        started=started,
        progress=generation.progress,
    )


def remaining_seconds(
    *, estimate: int, status: str, started: float | None, progress: int, now: float | None = None
) -> int:
    """Seconds left: the estimate until the job starts, then extrapolated from its progress."""
    if status == Status.QUEUED or not started:
        return estimate
    elapsed = max(0.0, (now or timezone.now().timestamp()) - started)
    if progress > 0:
        estimate = elapsed * 100 / progress
    return max(0, round(estimate - elapsed))


_OPERATION_WORDS = {
    "vectorization": "Tracing vectors",
    "background_removal": "Removing the background",
    "clarity_upscale": "Upscaling",
    "generative_upscale": "Upscaling with a model",
    "style_creation": "Reading the style",
}
STAGE_LABELS = {
    "queued": "Waiting for a worker",
    "starting": "Starting",
    "saving": "Saving the result",
    "completed": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


def stage(*, kind: str, operation: str, status: str, progress: int) -> tuple[str, str]:
    """(stage, what to tell a person) for a job at this status and progress; the worker's
    progress runs 0-90 in the provider, then 92+ while storing (studio.services.execution)."""
    if status == Status.QUEUED:
        key = "queued"
    elif status != Status.GENERATING:
        key = status
    elif progress == 0:
        key = "starting"
    elif progress >= 90:
        key = "saving"
    else:
        key = "generating"
    if key != "generating":
        return key, STAGE_LABELS[key]
    if kind == Kind.OPERATION:
        return key, _OPERATION_WORDS.get(operation, "Working")
    if operation in ("vector_generation", "vector_illustration"):
        return key, "Drawing" if progress < 54 else "Tracing vectors"
    return key, "Rendering frames" if kind == Kind.VIDEO else "Generating"


def generation_accepted(generation: Generation, chain: list[str]) -> dict:
    """The 202 answer to a submission: the seed's "generating"/"queued" shape."""
    metadata = {
        "model": generation.model,
        "credits_used": generation.cost,
        "estimated_time": estimated_seconds(generation, chain),
        "seed": generation.seed,
    }
    if generation.kind == Kind.OPERATION:
        metadata = {
            "operation": generation.operation,
            "source": generation.params.get("source"),
            "credits_used": generation.cost,
            "estimated_time": estimated_seconds(generation, chain),
        }
    elif generation.kind == Kind.IMAGE:
        metadata["category"] = generation.category or None
        metadata["num_images"] = generation.params.get("num_images", 1)
    else:
        metadata.update(duration=generation.params["duration"], fps=generation.params["fps"])
    return {
        "id": generation.id,
        "type": generation.kind,
        "status": generation.status,
        "progress": generation.progress,
        "createdAt": iso(generation.created_at),
        "metadata": metadata,
    }


def generation_item(generation: Generation, request=None) -> dict:
    """One entry of GET /users/generations."""
    item = {
        "id": generation.id,
        "type": generation.kind,
        "prompt": generation.prompt,
        "status": generation.status,
        "starred": generation.starred,
        "createdAt": iso(generation.created_at),
        "metadata": {
            "model": generation.model or None,
            "category": generation.category or None,
            "credits_used": generation.cost,
        },
    }
    if generation.operation:
        item["metadata"]["operation"] = generation.operation
    if generation.status == Status.COMPLETED and generation.outputs:
        item["url"] = media_url(generation.outputs[0]["key"], request)
        item["thumbnail_url"] = media_url(generation.outputs[0]["thumbnail_key"], request)
    return item


def webhook_data(generation: Generation) -> dict:
    """`data` of the seed's webhook payload."""
    data = {
        "id": generation.id,
        "userId": str(generation.user_id),
        "type": generation.kind,
        "status": generation.status,
        "metadata": {"model": generation.model or None, "credits_used": generation.cost},
    }
    if generation.operation:
        data["metadata"]["operation"] = generation.operation
    if generation.status == Status.COMPLETED and generation.outputs:
        data["url"] = media_url(generation.outputs[0]["key"])
    if generation.error:
        data["error"] = generation.error
    return data


def job_log(generation: Generation, entries: list[dict]) -> dict:
    """GET /studio/generation/<id>/logs."""
    from studio.services.joblog import job_log_truncated

    return {
        "id": generation.id,
        "status": generation.status,
        "entries": [{**entry, "at": iso(entry["at"])} for entry in entries],
        "truncated": job_log_truncated(entries),
    }
