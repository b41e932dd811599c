"""Templates and their pipelines (FlexFlow seed: /templates, /templates/:id,
/templates/:templateId/pipelines, /pipelines/:id), export/import, cost and rating."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import PageQuerySerializer, PaginationSerializer, paginate
from core.schema import errors
from core.serializers import MessageSerializer
from pipelines import presenters
from pipelines.selectors import rating_of, template_list
from pipelines.services.pricing import template_cost
from pipelines.services.templates import (
    pipeline_create,
    pipeline_delete,
    pipeline_owned,
    pipeline_update,
    template_create,
    template_delete,
    template_document,
    template_import,
    template_rate,
    template_update,
    template_visible,
)

DOCUMENT_HELP = (
    "name, description, tags (≤ 10), visibility (private|public), cover (an asset id), "
    "inputs (≤ 20: name, label, type text|long_text|number|choice|boolean|image|seed, "
    "required, default, help, options, min, max, step) and steps (1-10: operation, name, "
    "params — literals or {{inputs.<name>}} / {{steps.<n>.output}} references)."
)


def _document_fields(*, required: bool) -> dict[str, serializers.Field]:
    """A template document's fields, for the schema (the rules are pipelines.spec's)."""
    return {
        "name": serializers.CharField(max_length=120, required=required),
        "description": serializers.CharField(required=False, allow_blank=True),
        "tags": serializers.ListField(child=serializers.CharField(), required=False),
        "inputs": serializers.ListField(child=serializers.DictField(), required=False),
        "steps": serializers.ListField(child=serializers.DictField(), required=required),
    }


def _sharing_fields() -> dict[str, serializers.Field]:
    return {
        "visibility": serializers.ChoiceField(choices=["private", "public"], required=False),
        "cover": serializers.CharField(required=False, allow_null=True),
    }


TemplateDocument = type(
    "TemplateDocument",
    (serializers.Serializer,),
    {
        "__doc__": "A template as JSON. The body is checked whole by the template rules; see "
        "`details` of a 400 for what is wrong where (`steps.2.source`, `inputs.1.max`…).",
        **_document_fields(required=True),
        **_sharing_fields(),
    },
)
TemplateUpdate = type(
    "TemplateUpdate",
    (serializers.Serializer,),
    {
        "__doc__": "The fields to change; the rest stay as they are (steps are the first "
        "pipeline's).",
        **_document_fields(required=False),
        **_sharing_fields(),
    },
)
TemplateExport = type(
    "TemplateExport",
    (serializers.Serializer,),
    {
        "__doc__": "A template as a self-contained document, to share between accounts and "
        "installations.",
        "format": serializers.CharField(help_text='"craftframe.template"', required=False),
        "version": serializers.IntegerField(help_text="1", required=False),
        **_document_fields(required=True),
    },
)


class TemplateItemOutput(serializers.Serializer):
    """An entry of the template list."""

    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    visibility = serializers.CharField()
    owner = serializers.DictField()
    mine = serializers.BooleanField()
    starter = serializers.BooleanField()
    version = serializers.IntegerField()
    runs = serializers.IntegerField()
    rating = serializers.DictField(help_text="average (null when unrated) and count")
    cover = serializers.DictField(allow_null=True)
    createdAt = serializers.CharField()
    updatedAt = serializers.CharField()


class TemplateOutput(TemplateItemOutput):
    """A template with its inputs and the steps of its first pipeline."""

    inputs = serializers.ListField(child=serializers.DictField())
    steps = serializers.ListField(child=serializers.DictField())
    pipelines = serializers.ListField(child=serializers.DictField())
    myRating = serializers.IntegerField(allow_null=True)


def _detail(template, request, status_code=200) -> Response:
    user = request.user if request.user.is_authenticated else None
    rating = rating_of(user=user, template=template)
    body = presenters.template_detail(template, user, request, rating)
    return Response(body, status=status_code)


class TemplateListApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    class FilterSerializer(PageQuerySerializer):
        q = serializers.CharField(max_length=100, required=False, allow_blank=True)
        tag = serializers.RegexField(r"^[a-z0-9][a-z0-9-]{0,31}$", required=False)
        sort = serializers.ChoiceField(choices=["popular", "rating", "newest"], default="popular")
        owner = serializers.ChoiceField(
            choices=["all", "mine", "public"],
            default="all",
            help_text="all: public and yours; mine: only yours; public: only public.",
        )

    class ListOutput(serializers.Serializer):
        templates = TemplateItemOutput(many=True)
        pagination = PaginationSerializer()

    @extend_schema(
        operation_id="templates_list",
        tags=["templates"],
        parameters=[FilterSerializer],
        responses={200: ListOutput, **errors()},
        summary="Public templates and yours: search, tag filter, sort, pagination.",
    )
    def get(self, request):
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        user = request.user if request.user.is_authenticated else None
        templates = template_list(
            user=user,
            q=(values.get("q") or "").strip() or None,
            tag=values.get("tag"),
            sort=values["sort"],
            mine=values["owner"],
        )
        page = paginate(templates, page=values["page"], limit=values["limit"])
        return Response(
            {
                "templates": [presenters.template_item(t, user, request) for t in page.items],
                "pagination": page.meta(),
            }
        )

    @extend_schema(
        operation_id="templates_create",
        tags=["templates"],
        request=TemplateDocument,
        responses={201: TemplateOutput, **errors(401, 404)},
        summary="Create a template with its inputs and steps; " + DOCUMENT_HELP,
    )
    def post(self, request):
        template = template_create(owner=request.user, document=request.data)
        return _detail(template, request, status.HTTP_201_CREATED)


class TemplateDetailApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(
        operation_id="templates_get",
        tags=["templates"],
        responses={200: TemplateOutput, **errors(404)},
        summary="A public template or one of yours, with its inputs and steps.",
    )
    def get(self, request, template_id: str):
        user = request.user if request.user.is_authenticated else None
        return _detail(template_visible(user=user, template_id=template_id), request)

    @extend_schema(
        operation_id="templates_update",
        tags=["templates"],
        request=TemplateUpdate,
        responses={200: TemplateOutput, **errors(401, 404)},
        summary="Change your template (only the fields sent); its version goes up.",
    )
    def patch(self, request, template_id: str):
        template = template_update(
            user=request.user, template_id=template_id, document=request.data
        )
        return _detail(template, request)

    @extend_schema(
        operation_id="templates_delete",
        tags=["templates"],
        responses={200: MessageSerializer, **errors(401, 404)},
        summary="Delete your template (past executions keep their record).",
    )
    def delete(self, request, template_id: str):
        template_delete(user=request.user, template_id=template_id)
        return Response({"message": "Template deleted"})


class PipelineInput(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    steps = serializers.ListField(child=serializers.DictField(), max_length=10_000)


class PipelineOutput(serializers.Serializer):
    id = serializers.CharField()
    template = serializers.CharField()
    name = serializers.CharField()
    position = serializers.IntegerField()
    steps = serializers.ListField(child=serializers.DictField())
    createdAt = serializers.CharField()
    updatedAt = serializers.CharField()


class TemplatePipelinesApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    class ListOutput(serializers.Serializer):
        pipelines = PipelineOutput(many=True)

    @extend_schema(
        operation_id="template_pipelines_list",
        tags=["templates"],
        responses={200: ListOutput, **errors(404)},
        summary="The pipelines of a template; the first is the one that runs by default.",
    )
    def get(self, request, template_id: str):
        user = request.user if request.user.is_authenticated else None
        template = template_visible(user=user, template_id=template_id)
        return Response(
            {"pipelines": [presenters.pipeline_detail(p) for p in template.pipelines.all()]}
        )

    @extend_schema(
        operation_id="template_pipelines_create",
        tags=["templates"],
        request=PipelineInput,
        responses={201: PipelineOutput, **errors(401, 404)},
        summary="Add a pipeline to your template (steps checked like a template's).",
    )
    def post(self, request, template_id: str):
        data = PipelineInput(data=request.data)
        data.is_valid(raise_exception=True)
        pipeline = pipeline_create(
            user=request.user,
            template_id=template_id,
            name=data.validated_data.get("name", ""),
            steps=request.data.get("steps"),
        )
        return Response(presenters.pipeline_detail(pipeline), status=status.HTTP_201_CREATED)


class PipelineDetailApi(APIView):
    class UpdateSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=120, required=False)
        steps = serializers.ListField(child=serializers.DictField(), required=False)

        def validate(self, attrs):
            if not attrs:  # a PATCH names what it changes
                raise serializers.ValidationError("Send name or steps.")
            return attrs

    @extend_schema(
        operation_id="pipelines_get",
        tags=["templates"],
        responses={200: PipelineOutput, **errors(401, 404)},
        summary="One of your pipelines.",
    )
    def get(self, request, pipeline_id: str):
        return Response(
            presenters.pipeline_detail(pipeline_owned(user=request.user, pipeline_id=pipeline_id))
        )

    @extend_schema(
        operation_id="pipelines_update",
        tags=["templates"],
        request=UpdateSerializer,
        responses={200: PipelineOutput, **errors(401, 404)},
        summary="Rename a pipeline or replace its steps.",
    )
    def patch(self, request, pipeline_id: str):
        data = self.UpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pipeline = pipeline_update(
            user=request.user,
            pipeline_id=pipeline_id,
            name=data.validated_data.get("name"),
            steps=request.data.get("steps") if "steps" in request.data else None,
        )
        return Response(presenters.pipeline_detail(pipeline))

    @extend_schema(
        operation_id="pipelines_delete",
        tags=["templates"],
        responses={200: MessageSerializer, **errors(401, 404, 409)},
        summary="Delete a pipeline (a template keeps at least one).",
    )
    def delete(self, request, pipeline_id: str):
        pipeline_delete(user=request.user, pipeline_id=pipeline_id)
        return Response({"message": "Pipeline deleted"})


class InputsBody(serializers.Serializer):
    inputs = serializers.DictField(help_text="Input name -> value ({} for the defaults).")
    pipeline = serializers.CharField(max_length=40, required=False, allow_null=True)


class CostOutput(serializers.Serializer):
    total = serializers.IntegerField()
    steps = serializers.ListField(
        child=serializers.DictField(), help_text="number, operation, cost"
    )


class TemplateCostApi(APIView):
    @extend_schema(
        operation_id="templates_cost",
        tags=["templates"],
        request=InputsBody,
        responses={200: CostOutput, **errors(401, 404)},
        summary="What a run with these inputs would cost, step by step; charges nothing.",
    )
    def post(self, request, template_id: str):
        data = InputsBody(data=request.data)
        data.is_valid(raise_exception=True)
        plan = template_cost(
            user=request.user,
            template_id=template_id,
            inputs=request.data.get("inputs") or {},
            pipeline_id=data.validated_data.get("pipeline"),
        )
        return Response(presenters.plan_body(plan))


class TemplateExportApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(
        operation_id="templates_export",
        tags=["templates"],
        responses={200: TemplateExport, **errors(404)},
        summary="The template as a self-contained JSON document (no owner data).",
    )
    def get(self, request, template_id: str):
        user = request.user if request.user.is_authenticated else None
        template = template_visible(user=user, template_id=template_id)
        response = Response(template_document(template))
        response["Content-Disposition"] = f'attachment; filename="{template.pk}.json"'
        return response

    @extend_schema(
        operation_id="templates_export_post",
        tags=["templates"],
        request=None,
        responses={200: TemplateExport, **errors(401, 404)},
        summary="The same document as GET (for clients that only POST).",
    )
    def post(self, request, template_id: str):
        return self.get(request, template_id)


class TemplateImportApi(APIView):
    @extend_schema(
        operation_id="templates_import",
        tags=["templates"],
        request=TemplateExport,
        responses={201: TemplateOutput, **errors(401)},
        summary="A new private template of yours from an exported document; checked like a "
        "save, nothing kept when it fails.",
    )
    def post(self, request):
        template = template_import(owner=request.user, document=request.data)
        return _detail(template, request, status.HTTP_201_CREATED)


class TemplateRatingApi(APIView):
    class InputSerializer(serializers.Serializer):
        score = serializers.IntegerField(min_value=1, max_value=5)

    @extend_schema(
        operation_id="templates_rate",
        tags=["templates"],
        request=InputSerializer,
        responses={200: TemplateOutput, **errors(401, 404)},
        summary="Rate a template 1-5 (one rating per person, changeable; not your own).",
        parameters=[OpenApiParameter("template_id", location=OpenApiParameter.PATH)],
    )
    def post(self, request, template_id: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        template = template_rate(
            user=request.user, template_id=template_id, score=data.validated_data["score"]
        )
        return _detail(template, request)
