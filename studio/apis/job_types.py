"""Every kind of job a user can start, by the name of its endpoint: the serializer that
validates it and how its fields become the job's spec. The studio endpoints and the steps of
template pipelines both start jobs through here, so a step accepts exactly what the endpoint
accepts."""

from collections.abc import Callable
from dataclasses import dataclass

from rest_framework import serializers

from studio.apis.generations import GenerateImageApi, GenerateVideoApi
from studio.apis.operations import (
    GenerateVectorApi,
    GenerativeUpscaleApi,
    RemoveBackgroundApi,
    StyleListApi,
    UpscaleApi,
    VectorizeApi,
    _vector_spec,
)
from studio.models import Kind


@dataclass(frozen=True)
class JobType:
    name: str  # the endpoint's last path segment: generate-image, vectorize…
    label: str
    kind: str
    serializer: type[serializers.Serializer]
    prepare: Callable[[dict], dict] | None = None
    # What its result is, for a later step to use: an image (asset), a video or a style.
    produces: str = "image"

    def spec(self, validated: dict) -> dict:
        spec = {k: v for k, v in validated.items() if v is not None or k == "seed"}
        return self.prepare(spec) if self.prepare is not None else spec


def _operation(name: str):
    return lambda spec: {**spec, "operation": name}


JOB_TYPES: dict[str, JobType] = {
    job.name: job
    for job in (
        JobType("generate-image", "Generate image", Kind.IMAGE, GenerateImageApi.InputSerializer),
        JobType(
            "generate-video",
            "Generate video",
            Kind.VIDEO,
            GenerateVideoApi.InputSerializer,
            produces="video",
        ),
        JobType(
            "generate-vector",
            "Generate vector",
            Kind.IMAGE,
            GenerateVectorApi.InputSerializer,
            _vector_spec,
            produces="vector",
        ),
        JobType(
            "vectorize",
            "Vectorize",
            Kind.OPERATION,
            VectorizeApi.InputSerializer,
            _operation(VectorizeApi.operation),
            produces="vector",
        ),
        JobType(
            "remove-background",
            "Remove background",
            Kind.OPERATION,
            RemoveBackgroundApi.InputSerializer,
            _operation(RemoveBackgroundApi.operation),
        ),
        JobType(
            "upscale",
            "Upscale",
            Kind.OPERATION,
            UpscaleApi.InputSerializer,
            _operation(UpscaleApi.operation),
        ),
        JobType(
            "generative-upscale",
            "Generative upscale",
            Kind.OPERATION,
            GenerativeUpscaleApi.InputSerializer,
            _operation(GenerativeUpscaleApi.operation),
        ),
        JobType(
            "style",
            "Create style",
            Kind.OPERATION,
            StyleListApi.InputSerializer,
            _operation(StyleListApi.operation),
            produces="style",
        ),
    )
}
