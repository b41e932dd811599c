from django.urls import path

from pipelines.apis import events, executions, templates

urlpatterns = [
    path("templates", templates.TemplateListApi.as_view(), name="templates"),
    path("templates/import", templates.TemplateImportApi.as_view(), name="templates-import"),
    path("templates/<str:template_id>", templates.TemplateDetailApi.as_view(), name="template"),
    path(
        "templates/<str:template_id>/pipelines",
        templates.TemplatePipelinesApi.as_view(),
        name="template-pipelines",
    ),
    path(
        "templates/<str:template_id>/cost",
        templates.TemplateCostApi.as_view(),
        name="template-cost",
    ),
    path(
        "templates/<str:template_id>/export",
        templates.TemplateExportApi.as_view(),
        name="template-export",
    ),
    path(
        "templates/<str:template_id>/rating",
        templates.TemplateRatingApi.as_view(),
        name="template-rating",
    ),
    path(
        "templates/<str:template_id>/execute",
        executions.TemplateExecuteApi.as_view(),
        name="template-execute",
    ),
    path("pipelines/<str:pipeline_id>", templates.PipelineDetailApi.as_view(), name="pipeline"),
    path(
        "executions/<str:execution_id>", executions.ExecutionDetailApi.as_view(), name="execution"
    ),
    path(
        "executions/<str:execution_id>/events",
        events.ExecutionEventsApi.as_view(),
        name="execution-events",
    ),
    path(
        "executions/<str:execution_id>/logs",
        executions.ExecutionLogsApi.as_view(),
        name="execution-logs",
    ),
    path(
        "executions/<str:execution_id>/cancel",
        executions.ExecutionCancelApi.as_view(),
        name="execution-cancel",
    ),
    path(
        "executions/<str:execution_id>/retry",
        executions.ExecutionRetryApi.as_view(),
        name="execution-retry",
    ),
    path("users/executions", executions.UserExecutionsApi.as_view(), name="user-executions"),
    path("users/usage", executions.UserUsageApi.as_view(), name="user-usage"),
]
