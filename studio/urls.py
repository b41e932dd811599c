from django.urls import path

from studio.apis import assets, events, generations, operations, projects, webhooks

urlpatterns = [
    path("studio/generate-image", generations.GenerateImageApi.as_view(), name="generate-image"),
    path("studio/generate-video", generations.GenerateVideoApi.as_view(), name="generate-video"),
    path(
        "studio/generation/<str:generation_id>",
        generations.GenerationDetailApi.as_view(),
        name="generation",
    ),
    path(
        "studio/generation/<str:generation_id>/events",
        events.GenerationEventsApi.as_view(),
        name="generation-events",
    ),
    path(
        "studio/generation/<str:generation_id>/logs",
        generations.GenerationLogsApi.as_view(),
        name="generation-logs",
    ),
    path(
        "studio/generation/<str:generation_id>/cancel",
        generations.GenerationCancelApi.as_view(),
        name="generation-cancel",
    ),
    path(
        "studio/generation/<str:generation_id>/retry",
        generations.GenerationRetryApi.as_view(),
        name="generation-retry",
    ),
    path("studio/generate-vector", operations.GenerateVectorApi.as_view(), name="generate-vector"),
    path("studio/vectorize", operations.VectorizeApi.as_view(), name="vectorize"),
    path(
        "studio/remove-background",
        operations.RemoveBackgroundApi.as_view(),
        name="remove-background",
    ),
    path("studio/upscale", operations.UpscaleApi.as_view(), name="upscale"),
    path(
        "studio/generative-upscale",
        operations.GenerativeUpscaleApi.as_view(),
        name="generative-upscale",
    ),
    path("studio/styles", operations.StyleListApi.as_view(), name="styles"),
    path("studio/styles/<str:style_id>", operations.StyleDetailApi.as_view(), name="style"),
    path("users/generations", generations.UserGenerationsApi.as_view(), name="user-generations"),
    path(
        "users/generation/<str:generation_id>",
        generations.UserGenerationDeleteApi.as_view(),
        name="user-generation",
    ),
    path("webhooks", webhooks.WebhookListApi.as_view(), name="webhooks"),
    path("webhooks/<str:webhook_id>", webhooks.WebhookDetailApi.as_view(), name="webhook"),
    path(
        "webhooks/<str:webhook_id>/deliveries/<str:delivery_id>/redeliver",
        webhooks.WebhookRedeliverApi.as_view(),
        name="webhook-redeliver",
    ),
    path("assets", assets.AssetListApi.as_view(), name="assets"),
    path("assets/upload", assets.AssetUploadApi.as_view(), name="asset-upload"),
    path("assets/move", assets.AssetMoveApi.as_view(), name="assets-move"),
    path("assets/<str:asset_id>", assets.AssetDetailApi.as_view(), name="asset"),
    path(
        "assets/<str:asset_id>/download",
        assets.AssetDownloadApi.as_view(),
        name="asset-download",
    ),
    path("projects", projects.ProjectListApi.as_view(), name="projects"),
    path("projects/<str:project_id>", projects.ProjectDetailApi.as_view(), name="project"),
    path(
        "projects/<str:project_id>/duplicate",
        projects.ProjectDuplicateApi.as_view(),
        name="project-duplicate",
    ),
]
