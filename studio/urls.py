from django.urls import path

from studio.apis import generations, webhooks

urlpatterns = [
    path("studio/generate-image", generations.GenerateImageApi.as_view(), name="generate-image"),
    path("studio/generate-video", generations.GenerateVideoApi.as_view(), name="generate-video"),
    path(
        "studio/generation/<str:generation_id>",
        generations.GenerationDetailApi.as_view(),
        name="generation",
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
    path("users/generations", generations.UserGenerationsApi.as_view(), name="user-generations"),
    path(
        "users/generation/<str:generation_id>",
        generations.UserGenerationDeleteApi.as_view(),
        name="user-generation",
    ),
    path("webhooks", webhooks.WebhookListApi.as_view(), name="webhooks"),
    path("webhooks/<str:webhook_id>", webhooks.WebhookDetailApi.as_view(), name="webhook"),
]
