"""Studio endpoints (seed: /studio/generate-image, /studio/generate-video,
/studio/generation/:id, /users/generations, /users/generation/:id)."""

import re

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import PageQuerySerializer, PaginationSerializer, paginate
from core.ratelimit import PlanApiThrottle, PlanImageThrottle, PlanVideoThrottle
from core.schema import errors
from core.serializers import MessageSerializer
from organizations.workspace import WorkspaceFields, WorkspaceQuery, request_workspace
from studio import presenters
from studio.models import Kind, LogEvent, Status
from studio.options import (
    CATEGORIES,
    DEFAULT_IMAGE_SIZE,
    IMAGE_MODEL_CHOICES,
    IMAGE_SIZES,
    VIDEO_MODEL_CHOICES,
    VIDEO_MODELS,
    VIDEO_STYLES,
)
from studio.selectors import generation_list
from studio.services.generations import (
    SEED_MAX,
    generation_cancel,
    generation_create,
    generation_delete,
    generation_get_for_user,
    generation_retry,
    generation_star,
)
from studio.services.joblog import job_log_entries
from studio.services.operations import provider_chain

_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")  # visible ASCII, no spaces

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    location=OpenApiParameter.HEADER,
    required=False,
    description="Repeat a request safely: the same key and body return the original "
    "generation and charge nothing; the same key with another body is 409.",
)


class GenerationOutput(serializers.Serializer):
    """A generation (seed: "Generation Status"); fields appear as its status calls for."""

    id = serializers.CharField()
    type = serializers.ChoiceField(choices=Kind.choices)
    status = serializers.ChoiceField(choices=Status.choices)
    progress = serializers.IntegerField(min_value=0, max_value=100)
    prompt = serializers.CharField()
    starred = serializers.BooleanField()
    stage = serializers.ChoiceField(
        choices=["queued", "starting", "generating", "saving", "completed", "failed", "cancelled"],
        help_text="Where the job is; `progress` events of the event stream say it in words too.",
    )
    createdAt = serializers.CharField()
    completedAt = serializers.CharField(required=False)
    estimated_remaining = serializers.IntegerField(
        required=False, help_text="Seconds, while queued or generating."
    )
    url = serializers.URLField(required=False, help_text="Signed and expiring, when completed.")
    thumbnail_url = serializers.URLField(required=False, help_text="WebP, at most 512 px.")
    files = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="Every output (num_images > 1): url, download_url (saves it under a file "
        "name), thumbnail_url, width, height, content_type, size.",
    )
    metadata = serializers.DictField(
        help_text="model, quality, seed, credits_used, enhancedPrompt; width, height, category"
        " (images) or duration, fps, frames, resolution (video); source and generation_time"
        " when completed; retry_possible when failed."
    )
    error = serializers.CharField(required=False)
    retry_possible = serializers.BooleanField(required=False)
    attempts = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="Each provider tried: provider, duration (s), error.",
    )
    retryOf = serializers.CharField(required=False)


class AcceptedOutput(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.ChoiceField(choices=Kind.choices)
    status = serializers.ChoiceField(choices=Status.choices)
    progress = serializers.IntegerField()
    createdAt = serializers.CharField()
    metadata = serializers.DictField(
        help_text="model, credits_used, estimated_time (s), seed; category and num_images or"
        " duration and fps."
    )


class GenerationItemOutput(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.ChoiceField(choices=Kind.choices)
    prompt = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    starred = serializers.BooleanField()
    url = serializers.URLField(required=False)
    thumbnail_url = serializers.URLField(required=False)
    createdAt = serializers.CharField()
    metadata = serializers.DictField(help_text="model, category, credits_used")


class GenerationListOutput(serializers.Serializer):
    generations = GenerationItemOutput(many=True)
    pagination = PaginationSerializer()


def idempotency_key(request) -> str:
    key = request.headers.get("Idempotency-Key", "")
    if key and not _KEY.match(key):
        raise serializers.ValidationError(
            {"Idempotency-Key": ["Use 1-200 visible ASCII characters without spaces."]}
        )
    return key


class PromptFields(WorkspaceFields):
    prompt = serializers.CharField(min_length=3, max_length=500)
    negative_prompt = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default=""
    )
    seed = serializers.IntegerField(
        min_value=0,
        max_value=SEED_MAX,
        required=False,
        allow_null=True,
        default=None,
        help_text="Random when absent; always recorded.",
    )


class GenerateImageApi(APIView):
    throttle_classes = [PlanApiThrottle, PlanImageThrottle]

    class InputSerializer(PromptFields):
        model = serializers.ChoiceField(choices=IMAGE_MODEL_CHOICES, default="flux-pro")
        category = serializers.ChoiceField(
            choices=CATEGORIES, required=False, allow_blank=True, default=""
        )
        size = serializers.ChoiceField(choices=list(IMAGE_SIZES), default=DEFAULT_IMAGE_SIZE)
        steps = serializers.IntegerField(min_value=10, max_value=50, default=30)
        cfg_scale = serializers.FloatField(min_value=1, max_value=20, default=7.5)
        style = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        num_images = serializers.IntegerField(min_value=1, max_value=4, default=1)
        style_id = serializers.CharField(
            max_length=40,
            required=False,
            allow_null=True,
            help_text="A saved style (POST /studio/styles): its palette and prompt suffix.",
        )
        project = serializers.CharField(
            max_length=40, required=False, allow_null=True, help_text="File it in a project."
        )

    @extend_schema(
        operation_id="studio_generate_image",
        tags=["studio"],
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: AcceptedOutput, **errors(401, 403, 409)},
        summary="Queue an image generation; costs the model's price x num_images.",
    )
    def post(self, request):
        return submit_job(request, self.InputSerializer, Kind.IMAGE)


class GenerateVideoApi(APIView):
    throttle_classes = [PlanApiThrottle, PlanVideoThrottle]

    class InputSerializer(PromptFields):
        model = serializers.ChoiceField(choices=VIDEO_MODEL_CHOICES, default="huggingface")
        duration = serializers.IntegerField(min_value=3, max_value=10, default=5)
        fps = serializers.IntegerField(min_value=8, max_value=30, default=24)
        style = serializers.ChoiceField(
            choices=VIDEO_STYLES, required=False, allow_blank=True, default=""
        )
        project = serializers.CharField(
            max_length=40, required=False, allow_null=True, help_text="File it in a project."
        )

        def validate(self, attrs):
            longest = VIDEO_MODELS[attrs["model"]].max_duration
            if attrs["duration"] > longest:
                raise serializers.ValidationError(
                    {"duration": [f"{attrs['model']} videos are at most {longest} seconds."]}
                )
            return attrs

    @extend_schema(
        operation_id="studio_generate_video",
        tags=["studio"],
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: AcceptedOutput, **errors(401, 403, 409)},
        summary="Queue a video generation (MP4, H.264).",
    )
    def post(self, request):
        return submit_job(request, self.InputSerializer, Kind.VIDEO)


def submit_job(request, input_serializer, kind: str, prepare=None) -> Response:
    """Validate, create (hold included), answer 202: the body of every endpoint that starts a
    job. `prepare(spec)` turns the validated fields into the job's spec where they differ."""
    data = input_serializer(data=request.data)
    data.is_valid(raise_exception=True)
    values = dict(data.validated_data)
    workspace = request_workspace(request, values.pop("organization", None))
    spec = {k: v for k, v in values.items() if v is not None or k == "seed"}
    if prepare is not None:
        spec = prepare(spec)
    generation, _ = generation_create(
        user=request.user,
        kind=kind,
        spec=spec,
        idempotency_key=idempotency_key(request),
        workspace=workspace,
    )
    body = presenters.generation_accepted(generation, provider_chain(generation))
    return Response(body, status=status.HTTP_202_ACCEPTED)


class JobLogOutput(serializers.Serializer):
    class Entry(serializers.Serializer):
        at = serializers.DateTimeField()
        event = serializers.ChoiceField(choices=["queued", *LogEvent.values])
        message = serializers.CharField()
        data = serializers.DictField(
            help_text="Details: host and pid of a claim, provider and seconds of an attempt..."
        )

    id = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    entries = Entry(many=True)
    truncated = serializers.BooleanField(
        help_text="The log reached its bound: later lines other than outcomes were not kept."
    )


class GenerationLogsApi(APIView):
    @extend_schema(
        operation_id="studio_generation_logs",
        tags=["studio"],
        responses={200: JobLogOutput, **errors(401, 404)},
        summary="What happened to the job: queued, claimed by which worker, each provider "
        "attempt, storage, outcome, cancels and the sweeper's actions.",
    )
    def get(self, request, generation_id: str):
        generation = generation_get_for_user(user=request.user, generation_id=generation_id)
        return Response(presenters.job_log(generation, job_log_entries(generation)))


class GenerationDetailApi(APIView):
    class UpdateSerializer(serializers.Serializer):
        starred = serializers.BooleanField(
            required=False, help_text="Mark it as a favourite (gallery filter)."
        )

        def validate(self, attrs):
            if "starred" not in attrs:  # a PATCH names what it changes
                raise serializers.ValidationError({"starred": ["This field is required."]})
            return attrs

    @extend_schema(
        operation_id="studio_generation",
        tags=["studio"],
        responses={200: GenerationOutput, **errors(401, 404)},
        summary="Status, progress and, when completed, signed URLs of the result.",
    )
    def get(self, request, generation_id: str):
        generation = generation_get_for_user(user=request.user, generation_id=generation_id)
        return Response(
            presenters.generation_detail(generation, provider_chain(generation), request)
        )

    @extend_schema(
        operation_id="studio_generation_update",
        tags=["studio"],
        request=UpdateSerializer,
        responses={200: GenerationOutput, **errors(401, 404)},
        summary="Star or unstar a generation.",
    )
    def patch(self, request, generation_id: str):
        data = self.UpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        generation = generation_star(
            user=request.user, generation_id=generation_id, **data.validated_data
        )
        return Response(
            presenters.generation_detail(generation, provider_chain(generation), request)
        )


class GenerationCancelApi(APIView):
    @extend_schema(
        operation_id="studio_generation_cancel",
        tags=["studio"],
        request=None,
        responses={200: GenerationOutput, **errors(401, 404, 409)},
        summary="Cancel a queued or running generation; its credits are released.",
    )
    def post(self, request, generation_id: str):
        generation = generation_cancel(user=request.user, generation_id=generation_id)
        return Response(
            presenters.generation_detail(generation, provider_chain(generation), request)
        )


class GenerationRetryApi(APIView):
    @extend_schema(
        operation_id="studio_generation_retry",
        tags=["studio"],
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: AcceptedOutput, **errors(401, 403, 404, 409)},
        summary="Run a failed or cancelled generation again: a new one, charged anew.",
    )
    def post(self, request, generation_id: str):
        original = generation_get_for_user(user=request.user, generation_id=generation_id)
        # A retry is a new job: it counts against the plan's images/videos per minute too.
        throttle = PlanVideoThrottle if original.kind == Kind.VIDEO else PlanImageThrottle
        throttle().allow_request(request, self)
        generation = generation_retry(
            user=request.user,
            generation_id=generation_id,
            idempotency_key=idempotency_key(request),
        )
        body = presenters.generation_accepted(generation, provider_chain(generation))
        return Response(body, status=status.HTTP_202_ACCEPTED)


class UserGenerationsApi(APIView):
    class FilterSerializer(WorkspaceQuery, PageQuerySerializer):
        """The history's filters; the gallery page validates its query with this class too."""

        type = serializers.ChoiceField(choices=["all", *Kind.values], default="all")
        status = serializers.ChoiceField(choices=["all", *Status.values], default="all")
        model = serializers.ChoiceField(
            choices=list(dict.fromkeys([*IMAGE_MODEL_CHOICES, *VIDEO_MODEL_CHOICES])),
            required=False,
            allow_blank=True,
            help_text="Made with this model.",
        )
        project = serializers.CharField(
            max_length=40,
            required=False,
            allow_blank=True,
            help_text='Filed in this project (another user\'s is 404), or "none": in none.',
        )
        starred = serializers.BooleanField(
            required=False, allow_null=True, default=None, help_text="true or false."
        )
        q = serializers.CharField(
            max_length=200,
            required=False,
            allow_blank=True,
            help_text="Text in the prompt, any case.",
        )

        def get_fields(self):
            # `from` is a Python keyword: the date fields are added by name here.
            fields = super().get_fields()
            fields["from"] = serializers.DateField(
                required=False,
                allow_null=True,
                input_formats=["%Y-%m-%d"],
                help_text="Made on or after this day (YYYY-MM-DD, UTC).",
            )
            fields["to"] = serializers.DateField(
                required=False,
                allow_null=True,
                input_formats=["%Y-%m-%d"],
                help_text="Made on or before this day (YYYY-MM-DD, UTC).",
            )
            return fields

        def validate(self, attrs):
            start, end = attrs.get("from"), attrs.get("to")
            if start and end and start > end:
                raise serializers.ValidationError({"to": ['Must be on or after the "from" day.']})
            return attrs

        @staticmethod
        def to_filters(values: dict) -> dict:
            """Validated query values as generation_list's keyword arguments."""
            return {
                "kind": None if values["type"] == "all" else values["type"],
                "status": None if values["status"] == "all" else values["status"],
                "model": values.get("model") or None,
                "project": values.get("project") or None,
                "starred": values.get("starred"),
                "q": (values.get("q") or "").strip() or None,
                "created_from": values.get("from"),
                "created_to": values.get("to"),
            }

    @extend_schema(
        operation_id="users_generations",
        tags=["users"],
        parameters=[FilterSerializer],
        responses={200: GenerationListOutput, **errors(401, 404)},
        summary="The user's generations, newest first, filtered, with the seed's pagination block.",
    )
    def get(self, request):
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        generations = generation_list(
            user=request.user,
            workspace=request_workspace(request, values.get("organization")),
            **query.to_filters(values),
        )
        page = paginate(generations, page=values["page"], limit=values["limit"])
        return Response(
            {
                "generations": [presenters.generation_item(g, request) for g in page.items],
                "pagination": page.meta(),
            }
        )


class UserGenerationDeleteApi(APIView):
    @extend_schema(
        operation_id="users_generation_delete",
        tags=["users"],
        responses={200: MessageSerializer, **errors(401, 404)},
        summary="Delete a generation and its files (a running one is cancelled first).",
    )
    def delete(self, request, generation_id: str):
        generation_delete(user=request.user, generation_id=generation_id)
        return Response({"message": "Generation deleted successfully"})
