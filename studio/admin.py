"""Generations, assets, projects, styles and webhooks for support staff: read-only pages, and
the support actions (refund, cancel, retry, redeliver), which go through support.services."""

import json

from django.contrib import admin
from django.utils.html import format_html

from studio.models import (
    Asset,
    Generation,
    Project,
    Style,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from studio.models.joblogs import JobLogEntry
from support import services as support
from support.admin import SupportActionsMixin, html_table
from support.forms import RefundForm
from tokens.admin import ReadOnlyAdmin


def attempts_table(attempts: list[dict]) -> str:
    """A job's provider attempts (provider, seconds, error) as a small table."""
    if not attempts:
        return "None yet."
    return html_table(
        ("Provider", "Seconds", "Error"),
        ((a.get("provider", "?"), a.get("duration", ""), a.get("error") or "ok") for a in attempts),
    )


# The support actions on jobs, shared by generations and executions (pipelines.admin).


def refund_action(model_admin, request, queryset):
    def apply(job, data):
        credits = support.job_refund(
            actor=request.user, job=job, reason=data["reason"], amount=data["amount"]
        )
        return f"refunded {credits} credit(s)."

    return model_admin.support_action(
        request,
        queryset,
        title="Refund",
        apply=apply,
        form_class=RefundForm,
        explain="Once per job, never more than it charged; the refund is a ledger entry "
        "linked to the job, with you as its actor.",
    )


def cancel_action(model_admin, request, queryset):
    def apply(job, data):
        support.job_cancel(actor=request.user, job=job, reason=data["reason"])
        return "cancelled; what it held went back."

    return model_admin.support_action(request, queryset, title="Cancel", apply=apply)


def retry_action(model_admin, request, queryset):
    def apply(job, data):
        again = support.job_retry(actor=request.user, job=job, reason=data["reason"])
        return f"running again as {again.pk}."

    return model_admin.support_action(
        request,
        queryset,
        title="Retry",
        apply=apply,
        explain="Each runs again for its owner, held and charged from their credits.",
    )


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
class GenerationAdmin(SupportActionsMixin, ReadOnlyAdmin):
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
    list_filter = ("status", "kind", "operation", "source", "model", "created_at")
    search_fields = ("id", "user__email", "prompt")
    list_select_related = ("user",)
    show_full_result_count = False
    date_hierarchy = "created_at"
    readonly_fields = ("provider_attempts_table",)
    actions = ["refund", "cancel", "retry"]

    @admin.display(description="Provider attempts")
    def provider_attempts_table(self, generation: Generation) -> str:
        return attempts_table(generation.provider_attempts)

    @admin.action(description="Refund the selected completed jobs", permissions=["support"])
    def refund(self, request, queryset):
        return refund_action(self, request, queryset.select_related("user", "hold"))

    @admin.action(description="Cancel the selected jobs (refunds them)", permissions=["support"])
    def cancel(self, request, queryset):
        return cancel_action(self, request, queryset.select_related("user"))

    @admin.action(description="Retry the selected failed jobs", permissions=["support"])
    def retry(self, request, queryset):
        return retry_action(self, request, queryset.select_related("user"))


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("status_code", "duration_ms", "error", "response_excerpt", "created_at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Webhook)
class WebhookAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "url", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("id", "user__email", "url")
    exclude = ("secret",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(SupportActionsMixin, ReadOnlyAdmin):
    list_display = ("id", "webhook", "event", "status", "attempts", "created_at", "delivered_at")
    list_filter = ("status", "event", "created_at")
    search_fields = ("id", "webhook__id", "webhook__user__email")
    list_select_related = ("webhook__user",)
    inlines = [WebhookAttemptInline]
    readonly_fields = ("request_excerpt",)
    actions = ["redeliver"]

    @admin.display(description="Request body (first 2,000 characters)")
    def request_excerpt(self, delivery: WebhookDelivery) -> str:
        body = json.dumps(delivery.payload, indent=2, sort_keys=True)
        return format_html("<pre>{}</pre>", body[:2000] + ("…" if len(body) > 2000 else ""))

    @admin.action(description="Redeliver the selected events", permissions=["support"])
    def redeliver(self, request, queryset):
        def apply(delivery, data):
            again = support.webhook_redeliver(
                actor=request.user, delivery=delivery, reason=data["reason"]
            )
            return f"sent again as {again.pk}."

        return self.support_action(
            request,
            queryset,
            title="Redeliver",
            apply=apply,
            explain="Each is a new delivery of the same event, signed the same way.",
        )


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
