"""The template and execution operations' part of the contract table (support.CONTRACT)."""

from core.serializers import MessageSerializer
from pipelines.apis import events as pipeline_events
from pipelines.apis import executions as executions_apis
from pipelines.apis import templates as templates_apis

T = "/api/v1/templates"

PIPELINES_CONTRACT = {
    (T, "get"): (None, "200", templates_apis.TemplateListApi.ListOutput, False),
    (T, "post"): (templates_apis.TemplateDocument, "201", templates_apis.TemplateOutput, True),
    (f"{T}/import", "post"): (
        templates_apis.TemplateExport,
        "201",
        templates_apis.TemplateOutput,
        True,
    ),
    (f"{T}/{{template_id}}", "get"): (None, "200", templates_apis.TemplateOutput, False),
    (f"{T}/{{template_id}}", "patch"): (
        templates_apis.TemplateUpdate,
        "200",
        templates_apis.TemplateOutput,
        True,
    ),
    (f"{T}/{{template_id}}", "delete"): (None, "200", MessageSerializer, True),
    (f"{T}/{{template_id}}/pipelines", "get"): (
        None,
        "200",
        templates_apis.TemplatePipelinesApi.ListOutput,
        False,
    ),
    (f"{T}/{{template_id}}/pipelines", "post"): (
        templates_apis.PipelineInput,
        "201",
        templates_apis.PipelineOutput,
        True,
    ),
    (f"{T}/{{template_id}}/cost", "post"): (
        templates_apis.InputsBody,
        "200",
        templates_apis.CostOutput,
        True,
    ),
    (f"{T}/{{template_id}}/export", "get"): (None, "200", templates_apis.TemplateExport, False),
    (f"{T}/{{template_id}}/export", "post"): (
        None,
        "200",
        templates_apis.TemplateExport,
        True,
    ),
    (f"{T}/{{template_id}}/rating", "post"): (
        templates_apis.TemplateRatingApi.InputSerializer,
        "200",
        templates_apis.TemplateOutput,
        True,
    ),
    (f"{T}/{{template_id}}/execute", "post"): (
        executions_apis.TemplateExecuteApi.InputSerializer,
        "202",
        executions_apis.ExecutionOutput,
        True,
    ),
    ("/api/v1/pipelines/{pipeline_id}", "get"): (
        None,
        "200",
        templates_apis.PipelineOutput,
        True,
    ),
    ("/api/v1/pipelines/{pipeline_id}", "patch"): (
        templates_apis.PipelineDetailApi.UpdateSerializer,
        "200",
        templates_apis.PipelineOutput,
        True,
    ),
    ("/api/v1/pipelines/{pipeline_id}", "delete"): (None, "200", MessageSerializer, True),
    ("/api/v1/executions/{execution_id}", "get"): (
        None,
        "200",
        executions_apis.ExecutionOutput,
        True,
    ),
    ("/api/v1/executions/{execution_id}/events", "get"): (
        None,
        "200",
        getattr(pipeline_events, "ProgressEventOutput", None),
        True,
    ),
    ("/api/v1/executions/{execution_id}/logs", "get"): (
        None,
        "200",
        executions_apis.ExecutionLogOutput,
        True,
    ),
    ("/api/v1/executions/{execution_id}/cancel", "post"): (
        None,
        "200",
        executions_apis.ExecutionOutput,
        True,
    ),
    ("/api/v1/executions/{execution_id}/retry", "post"): (
        None,
        "202",
        executions_apis.ExecutionOutput,
        True,
    ),
    ("/api/v1/users/executions", "get"): (
        None,
        "200",
        executions_apis.UserExecutionsApi.ListOutput,
        True,
    ),
    ("/api/v1/users/usage", "get"): (
        None,
        "200",
        executions_apis.UserUsageApi.UsageOutput,
        True,
    ),
}

PIPELINES_RESPONSE_MEDIA_TYPES = {
    ("/api/v1/executions/{execution_id}/events", "get"): "text/event-stream"
}
