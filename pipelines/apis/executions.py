"""Running templates (FlexFlow seed: POST /templates/:templateId/execute,
GET /executions/:executionId) with cancel, retry, the user's executions and usage."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import PageQuerySerializer, PaginationSerializer, paginate
from core.ratelimit import PlanApiThrottle, PlanImageThrottle
from core.schema import errors
from organizations.workspace import WorkspaceFields, WorkspaceQuery, request_workspace
from pipelines import presenters
from pipelines.models import ExecutionStatus
from pipelines.selectors import (
    execution_get_for_user,
    execution_list,
    execution_log,
    usage_report,
)
from pipelines.services.executions import execution_cancel, execution_create, execution_retry
from studio.apis.generations import IDEMPOTENCY_HEADER, idempotency_key


class ExecutionOutput(serializers.Serializer):
    id = serializers.CharField()
    template = serializers.DictField(help_text="id, name and version it ran with")
    status = serializers.ChoiceField(choices=ExecutionStatus.choices)
    currentStep = serializers.IntegerField(help_text="Numbered from 1.")
    progress = serializers.IntegerField(min_value=0, max_value=100)
    inputs = serializers.DictField(help_text="The inputs it ran with (defaults filled in).")
    steps = serializers.ListField(
        child=serializers.DictField(),
        help_text="number, operation, name, status (pending|queued|running|completed|failed|"
        "cancelled|skipped), progress, cost, charged, job (the studio job's id), output (id, "
        "type, url, thumbnail_url), error.",
    )
    cost = serializers.IntegerField(help_text="The whole price, held up front.")
    costSoFar = serializers.IntegerField()
    credits = serializers.DictField(help_text="held, charged, released, outstanding")
    attempt = serializers.IntegerField()
    error = serializers.CharField(allow_null=True)
    retry_possible = serializers.BooleanField()
    retryCost = serializers.IntegerField(
        allow_null=True, help_text="What a retry would hold (failed or cancelled runs)."
    )
    createdAt = serializers.CharField()
    finishedAt = serializers.CharField(allow_null=True)


class TemplateExecuteApi(APIView):
    throttle_classes = [PlanApiThrottle, PlanImageThrottle]

    class InputSerializer(WorkspaceFields):
        inputs = serializers.DictField(help_text="Input name -> value ({} for the defaults).")
        pipeline = serializers.CharField(max_length=40, required=False, allow_null=True)
        project = serializers.CharField(
            max_length=40, required=False, allow_null=True, help_text="File every result here."
        )

    @extend_schema(
        operation_id="templates_execute",
        tags=["templates"],
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: ExecutionOutput, **errors(401, 403, 404, 409)},
        summary="Run a template: its whole cost is held at once (or 403 INSUFFICIENT_CREDITS, "
        "nothing started); each step is charged as it completes. In an organization "
        "(`organization` or X-Organization) its account pays, within the member's limit.",
    )
    def post(self, request, template_id: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workspace = request_workspace(request, data.validated_data.get("organization"))
        execution, _ = execution_create(
            user=request.user,
            template_id=template_id,
            inputs=request.data.get("inputs") or {},
            pipeline_id=data.validated_data.get("pipeline"),
            project_id=data.validated_data.get("project"),
            idempotency_key=idempotency_key(request),
            workspace=workspace,
        )
        return Response(
            presenters.execution_detail(execution, request), status=status.HTTP_202_ACCEPTED
        )


class ExecutionDetailApi(APIView):
    @extend_schema(
        operation_id="executions_get",
        tags=["templates"],
        responses={200: ExecutionOutput, **errors(401, 404)},
        summary="An execution: status, each step's progress, output and cost, credits so far.",
    )
    def get(self, request, execution_id: str):
        execution = execution_get_for_user(user=request.user, execution_id=execution_id)
        return Response(presenters.execution_detail(execution, request))


class ExecutionLogEntry(serializers.Serializer):
    at = serializers.DateTimeField()
    step = serializers.IntegerField(
        allow_null=True, help_text="The step it is about (from 1); null for the run itself."
    )
    event = serializers.CharField(
        help_text="queued, retried, or a step's job event: claimed, attempt, stored..."
    )
    message = serializers.CharField()
    data = serializers.DictField()


class ExecutionLogOutput(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=ExecutionStatus.choices)
    entries = ExecutionLogEntry(many=True)


class ExecutionLogsApi(APIView):
    @extend_schema(
        operation_id="executions_logs",
        tags=["templates"],
        responses={200: ExecutionLogOutput, **errors(401, 404)},
        summary="What happened to the run: asked for, each retry, and every step's job log "
        "(earlier attempts included), in time order.",
    )
    def get(self, request, execution_id: str):
        execution = execution_get_for_user(user=request.user, execution_id=execution_id)
        return Response(presenters.execution_log(execution, execution_log(execution)))


class ExecutionCancelApi(APIView):
    @extend_schema(
        operation_id="executions_cancel",
        tags=["templates"],
        request=None,
        responses={200: ExecutionOutput, **errors(401, 403, 404, 409)},
        summary="Stop a run; what is left of its hold is released. In an organization, for "
        "whoever started it and the owners and admins (403 for other members).",
    )
    def post(self, request, execution_id: str):
        execution = execution_cancel(user=request.user, execution_id=execution_id)
        return Response(presenters.execution_detail(execution, request))


class ExecutionRetryApi(APIView):
    throttle_classes = [PlanApiThrottle, PlanImageThrottle]

    @extend_schema(
        operation_id="executions_retry",
        tags=["templates"],
        request=None,
        responses={202: ExecutionOutput, **errors(401, 403, 404, 409)},
        summary="Resume a failed or cancelled run at its first unfinished step, reusing the "
        "finished steps' results; holds only the cost of the rest.",
    )
    def post(self, request, execution_id: str):
        execution = execution_retry(user=request.user, execution_id=execution_id)
        return Response(
            presenters.execution_detail(execution, request), status=status.HTTP_202_ACCEPTED
        )


class UserExecutionsApi(APIView):
    class FilterSerializer(WorkspaceQuery, PageQuerySerializer):
        template = serializers.CharField(max_length=40, required=False)
        status = serializers.ChoiceField(
            choices=["all", *ExecutionStatus.values], default="all", required=False
        )

    class ListOutput(serializers.Serializer):
        executions = serializers.ListField(child=serializers.DictField())
        pagination = PaginationSerializer()

    @extend_schema(
        operation_id="users_executions",
        tags=["users"],
        parameters=[FilterSerializer],
        responses={200: ListOutput, **errors(401, 404)},
        summary="Your template executions (or your organization's), newest first.",
    )
    def get(self, request):
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        executions = execution_list(
            user=request.user,
            workspace=request_workspace(request, values.get("organization")),
            template_id=values.get("template"),
            status=None if values.get("status", "all") == "all" else values["status"],
        )
        page = paginate(executions, page=values["page"], limit=values["limit"])
        return Response(
            {
                "executions": [presenters.execution_item(e) for e in page.items],
                "pagination": page.meta(),
            }
        )


class UserUsageApi(APIView):
    class UsageOutput(serializers.Serializer):
        period = serializers.DictField()
        totals = serializers.DictField()
        byDay = serializers.ListField(child=serializers.DictField())
        byOperation = serializers.ListField(child=serializers.DictField())
        templates = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        operation_id="users_usage",
        tags=["users"],
        responses={200: UsageOutput, **errors(401)},
        summary="The last 30 days: generations, operations, executions and credits by day "
        "and by operation, and runs per template.",
    )
    def get(self, request):
        return Response(usage_report(user=request.user))
