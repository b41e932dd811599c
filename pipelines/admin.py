"""Templates, executions and ratings for support staff. Executions are looked at, not edited
(money moves only through the services); a stuck one can be cancelled, which releases what
is left of its hold."""

from django.contrib import admin, messages

from pipelines.models import (
    EXECUTION_ACTIVE,
    Execution,
    ExecutionStep,
    GlobalInput,
    Pipeline,
    Rating,
    Step,
    Template,
)
from pipelines.selectors import execution_credits
from pipelines.services.executions import ExecutionNotActive, execution_cancel
from tokens.admin import ReadOnlyAdmin


class GlobalInputInline(admin.TabularInline):
    model = GlobalInput
    extra = 0
    can_delete = False
    fields = ("position", "name", "type", "required", "default", "options", "min", "max", "step")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    """Visibility can be changed (hide an abusive public template); the document itself is
    the owner's, edited through the builder or the API where it is checked whole."""

    list_display = ("name", "owner", "visibility", "version", "runs", "rating", "created_at")
    list_filter = ("visibility",)
    search_fields = ("id", "name", "owner__email", "tag_index")
    list_select_related = ("owner",)
    fields = (
        "id",
        "name",
        "owner",
        "visibility",
        "description",
        "tags",
        "version",
        "runs",
        "rating_count",
        "rating_sum",
        "starter",
        "created_at",
        "updated_at",
    )
    readonly_fields = tuple(f for f in fields if f != "visibility")
    inlines = [GlobalInputInline]

    def has_add_permission(self, request) -> bool:
        return False


class StepInline(admin.TabularInline):
    model = Step
    extra = 0
    can_delete = False
    fields = ("position", "operation", "name", "params")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Pipeline)
class PipelineAdmin(ReadOnlyAdmin):
    list_display = ("id", "template", "name", "position", "updated_at")
    search_fields = ("id", "template__name")
    list_select_related = ("template",)
    inlines = [StepInline]


class ExecutionStepInline(admin.TabularInline):
    model = ExecutionStep
    extra = 0
    can_delete = False
    fields = ("position", "operation", "status", "cost", "charged", "generation", "output", "error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "template", "status", "current_step", "cost", "created_at")
    list_filter = ("status",)
    search_fields = ("id", "user__email", "template__name")
    list_select_related = ("user", "template")
    readonly_fields = ("credits",)
    inlines = [ExecutionStepInline]
    actions = ["cancel_and_release"]

    @admin.display(description="Credits held / charged / released")
    def credits(self, obj: Execution) -> str:
        found = execution_credits(obj)
        return f"{found['held']} / {found['charged']} / {found['released']}"

    @admin.action(
        description="Cancel the selected running executions (releases what is left)",
        permissions=["cancel_and_release"],
    )
    def cancel_and_release(self, request, queryset):
        done = 0
        for execution in queryset.filter(status__in=EXECUTION_ACTIVE).select_related("user"):
            try:
                execution_cancel(user=execution.user, execution_id=execution.pk)
                done += 1
            except ExecutionNotActive:
                pass
        self.message_user(request, f"Cancelled {done} execution(s).", messages.SUCCESS)

    def has_cancel_and_release_permission(self, request) -> bool:
        return request.user.has_perm("tokens.change_tokenaccount")


@admin.register(Rating)
class RatingAdmin(ReadOnlyAdmin):
    list_display = ("template", "user", "score", "updated_at")
    search_fields = ("template__name", "user__email")
    list_select_related = ("template", "user")
