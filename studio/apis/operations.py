"""Image operations (issue 4; Recraftor seed): each an asynchronous job like a generation, id
`op_…`, followed with GET /studio/generation/<id>; and saved styles."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import PageQuerySerializer, PaginationSerializer, paginate
from core.ratelimit import PlanApiThrottle, PlanImageThrottle
from core.schema import errors
from core.serializers import IsoDateTimeField, MessageSerializer
from organizations.workspace import WorkspaceFields, WorkspaceQuery, request_workspace
from studio.apis.generations import (
    IDEMPOTENCY_HEADER,
    AcceptedOutput,
    GenerateImageApi,
    submit_job,
)
from studio.models import Kind
from studio.selectors import style_list
from studio.services.operations import (
    GENERATIVE_UPSCALE,
    REMOVE_BACKGROUND,
    STYLE,
    UPSCALE,
    VECTORIZE,
)
from studio.services.styles import style_delete, style_get

SOURCE_HELP = "An asset id (ast_…) or a completed generation id of yours."


class OperationInput(WorkspaceFields):
    source = serializers.CharField(max_length=64, help_text=SOURCE_HELP)
    project = serializers.CharField(max_length=40, required=False, allow_null=True)


class OperationApi(APIView):
    """POST a source and options; 202 with the job. Subclasses name the operation."""

    operation = ""
    InputSerializer = OperationInput

    def get_throttles(self):
        # A new job counts against images per minute; reading (GET styles) does not.
        if self.request.method == "POST":
            return [PlanApiThrottle(), PlanImageThrottle()]
        return [PlanApiThrottle()]

    def post(self, request):
        return submit_job(
            request,
            self.InputSerializer,
            Kind.OPERATION,
            prepare=lambda spec: {**spec, "operation": self.operation},
        )


def _documented(operation_id: str, summary: str, input_serializer):
    return extend_schema(
        operation_id=operation_id,
        tags=["operations"],
        request=input_serializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: AcceptedOutput, **errors(401, 403, 404, 409)},
        summary=summary,
    )


class VectorizeApi(OperationApi):
    operation = VECTORIZE

    class InputSerializer(OperationInput):
        mode = serializers.ChoiceField(choices=["color", "binary"], default="color")
        detail = serializers.ChoiceField(choices=["low", "medium", "high"], default="medium")

    @_documented("studio_vectorize", "Trace a raster as an SVG (4 credits).", InputSerializer)
    def post(self, request):
        return super().post(request)


class RemoveBackgroundApi(OperationApi):
    operation = REMOVE_BACKGROUND

    @_documented(
        "studio_remove_background",
        "Cut the subject out: a PNG with alpha (4 credits).",
        OperationInput,
    )
    def post(self, request):
        return super().post(request)


class UpscaleApi(OperationApi):
    operation = UPSCALE

    class InputSerializer(OperationInput):
        scale = serializers.ChoiceField(choices=[2, 4], default=2)

    @_documented(
        "studio_upscale", "2x or 4x detail-preserving upscale (4 credits).", InputSerializer
    )
    def post(self, request):
        return super().post(request)


class GenerativeUpscaleApi(OperationApi):
    operation = GENERATIVE_UPSCALE

    class InputSerializer(OperationInput):
        scale = serializers.ChoiceField(choices=[2, 4], default=2)
        prompt = serializers.CharField(max_length=500, required=False, allow_blank=True)

    @_documented(
        "studio_generative_upscale",
        "Upscale with a model that invents detail (80 credits); without one configured, the "
        "clarity upscale, said so in the result's metadata.",
        InputSerializer,
    )
    def post(self, request):
        return super().post(request)


class GenerateVectorApi(APIView):
    """Generate, then vectorize, as one job (vector_generation / vector_illustration)."""

    throttle_classes = [PlanApiThrottle, PlanImageThrottle]

    class InputSerializer(GenerateImageApi.InputSerializer):
        type = serializers.ChoiceField(
            choices=["vector_generation", "vector_illustration"], default="vector_generation"
        )
        mode = serializers.ChoiceField(choices=["color", "binary"], default="color")
        detail = serializers.ChoiceField(choices=["low", "medium", "high"], default="medium")

    @extend_schema(
        operation_id="studio_generate_vector",
        tags=["studio"],
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: AcceptedOutput, **errors(401, 403, 404, 409)},
        summary="An image generated and traced as an SVG, as one job (8 credits per image).",
    )
    def post(self, request):
        return submit_job(request, self.InputSerializer, Kind.IMAGE, prepare=_vector_spec)


def _vector_spec(spec: dict) -> dict:
    spec["operation"] = spec.pop("type")
    if spec["operation"] == "vector_illustration" and not spec.get("category"):
        spec["category"] = "anime"  # flat colour areas trace into clean shapes
    return spec


class StyleOutput(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    palette = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    descriptors = serializers.DictField()
    prompt_suffix = serializers.CharField()
    references = serializers.SerializerMethodField()
    generation = serializers.CharField(source="generation_id", allow_null=True)
    createdAt = IsoDateTimeField(source="created_at")

    def get_references(self, style) -> list[str]:
        return [asset.pk for asset in style.references.all()]


class StyleListApi(OperationApi):
    operation = STYLE

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(min_length=1, max_length=100)
        references = serializers.ListField(
            child=serializers.CharField(max_length=64),
            min_length=1,
            max_length=10,
            help_text="1-10 reference images: asset ids or completed generation ids.",
        )
        project = serializers.CharField(max_length=40, required=False, allow_null=True)

    class ListOutput(serializers.Serializer):
        styles = StyleOutput(many=True)
        pagination = PaginationSerializer()

    class QuerySerializer(WorkspaceQuery, PageQuerySerializer):
        pass

    @extend_schema(
        operation_id="studio_styles",
        tags=["operations"],
        parameters=[QuerySerializer],
        responses={200: ListOutput, **errors(401, 404)},
        summary="The workspace's saved styles (your own, or an organization's), newest first.",
    )
    def get(self, request):
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = dict(query.validated_data)
        workspace = request_workspace(request, values.pop("organization", None))
        page = paginate(style_list(user=request.user, workspace=workspace), **values)
        return Response(
            {"styles": StyleOutput(page.items, many=True).data, "pagination": page.meta()}
        )

    @_documented(
        "studio_style_create",
        "Create a named style from 1-10 reference images: palette, tone and texture, and a "
        "prompt suffix (4 credits). Use its id as style_id on generate-image.",
        InputSerializer,
    )
    def post(self, request):
        return super().post(request)


class StyleDetailApi(APIView):
    @extend_schema(
        operation_id="studio_style",
        tags=["operations"],
        responses={200: StyleOutput, **errors(401, 404)},
        summary="One saved style.",
    )
    def get(self, request, style_id: str):
        return Response(StyleOutput(style_get(user=request.user, style_id=style_id)).data)

    @extend_schema(
        operation_id="studio_style_delete",
        tags=["operations"],
        responses={200: MessageSerializer, **errors(401, 403, 404)},
        summary="Delete a saved style (images made with it are kept).",
    )
    def delete(self, request, style_id: str):
        style_delete(user=request.user, style_id=style_id)
        return Response({"message": "Style deleted"})
