"""Generations, assets, projects, styles and webhooks for support staff: look, don't touch
(money moves only through the services; a stuck job is for the sweeper or a cancel)."""

from django.contrib import admin, messages

from studio.models import (
    Asset,
    Generation,
    Project,
    Status,
    Style,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from studio.models.joblogs import JobLogEntry
from studio.services.generations import GenerationNotActive, generation_cancel
from tokens.admin import ReadOnlyAdmin


class JobLogInline(admin.TabularInline):
    model = JobLogEntry
    extra = 0
    can_delete = False
    readonly_fields = ("at", "event", "message", "data")
    verbose_name_plural = "job log (queued at the job's created time)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Generation)
class GenerationAdmin(ReadOnlyAdmin):
    inlines = [JobLogInline]
    list_display = (
        "id",
        "user",
        "kind",
        "status",
        "progress",
        "model",
        "operation",
        "cost",
        "source",
        "attempts",
        "created_at",
    )
    list_filter = ("status", "kind", "operation", "source", "model")
    search_fields = ("id", "user__email", "prompt")
    list_select_related = ("user",)
    show_full_result_count = False
    actions = ["cancel_and_refund"]

    @admin.action(
        description="Cancel the selected running jobs and refund them",
        permissions=["cancel_and_refund"],
    )
    def cancel_and_refund(self, request, queryset):
        done = 0
        for generation in queryset.filter(status__in=[Status.QUEUED, Status.GENERATING]):
            try:
                generation_cancel(
                    user=generation.user, generation_id=generation.pk, actor=request.user
                )
                done += 1
            except GenerationNotActive:
                pass
        self.message_user(request, f"Cancelled and refunded {done} job(s).", messages.SUCCESS)

    def has_cancel_and_refund_permission(self, request) -> bool:
        return request.user.has_perm("tokens.change_tokenaccount")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("status_code", "duration_ms", "error", "created_at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Webhook)
class WebhookAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "url", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("id", "user__email", "url")
    exclude = ("secret",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "webhook", "event", "status", "attempts", "created_at", "delivered_at")
    list_filter = ("status", "event")
    search_fields = ("id", "webhook__id", "webhook__user__email")
    inlines = [WebhookAttemptInline]


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "name", "created_at", "updated_at")
    search_fields = ("id", "user__email", "name")
    list_select_related = ("user",)


@admin.register(Asset)
class AssetAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "kind", "name", "content_type", "width", "height", "size",
                    "project", "generation", "created_at")  # fmt: skip
    list_filter = ("kind", "content_type")
    search_fields = ("id", "user__email", "name", "generation__id", "project__id")
    list_select_related = ("user", "project", "generation")
    show_full_result_count = False


@admin.register(Style)
class StyleAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "name", "prompt_suffix", "created_at")
    search_fields = ("id", "user__email", "name")
    list_select_related = ("user",)
