"""Templates, executions and ratings for support staff: read-only pages, and the support
actions (refund, cancel, retry an execution; feature, unfeature, unpublish a template), which
go through support.services."""

from django.contrib import admin

from pipelines.models import (
    Execution,
    ExecutionStep,
    GlobalInput,
    Pipeline,
    Rating,
    Step,
    Template,
)
from pipelines.selectors import execution_credits, execution_log
from studio.admin import cancel_action, refund_action, retry_action
from support import services as support
from support.admin import SupportActionsMixin, html_table
from support.forms import NoteForm
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
class TemplateAdmin(SupportActionsMixin, ReadOnlyAdmin):
    """The document is the owner's, edited through the builder or the API where it is checked
    whole; support features a public template, or unpublishes one with a reason its owner
    sees."""

    list_display = ("name", "owner", "visibility", "featured", "version", "runs", "rating",
                    "created_at")  # fmt: skip
    list_filter = ("visibility", "featured")
    search_fields = ("id", "name", "owner__email", "tag_index")
    list_select_related = ("owner",)
    fields = (
        "id",
        "name",
        "owner",
        "visibility",
        "featured",
        "unpublished_reason",
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
    inlines = [GlobalInputInline]
    actions = ["feature", "unfeature", "unpublish"]

    @admin.action(description="Feature the selected public templates", permissions=["support"])
    def feature(self, request, queryset):
        return self._feature(request, queryset, True)

    @admin.action(description="Stop featuring the selected templates", permissions=["support"])
    def unfeature(self, request, queryset):
        return self._feature(request, queryset, False)

    def _feature(self, request, queryset, featured: bool):
        def apply(template, data):
            support.template_feature(
                actor=request.user, template=template, featured=featured, reason=data["reason"]
            )
            return "featured." if featured else "no longer featured."

        title = "Feature" if featured else "Unfeature"
        return self.support_action(
            request, queryset.select_related("owner"), title=title, apply=apply,
            form_class=NoteForm,
        )  # fmt: skip

    @admin.action(description="Unpublish the selected public templates", permissions=["support"])
    def unpublish(self, request, queryset):
        def apply(template, data):
            support.template_unpublish(actor=request.user, template=template, reason=data["reason"])
            return "now private; its owner sees the reason."

        return self.support_action(
            request,
            queryset.select_related("owner"),
            title="Unpublish",
            apply=apply,
            explain="Each becomes private; its owner sees the reason on the template.",
        )


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
class ExecutionAdmin(SupportActionsMixin, ReadOnlyAdmin):
    list_display = ("id", "user", "template", "status", "current_step", "cost", "created_at")
    list_filter = ("status", "created_at")
    date_hierarchy = "created_at"
    search_fields = ("id", "user__email", "template__name")
    list_select_related = ("user", "template")
    readonly_fields = ("credits", "log")
    inlines = [ExecutionStepInline]
    actions = ["refund", "cancel", "retry"]

    @admin.display(description="Log (each step's job log)")
    def log(self, obj: Execution) -> str:
        return html_table(
            ("Time", "Event", "Message"),
            (
                (f"{line['at']:%Y-%m-%d %H:%M:%S}", line["event"], line["message"])
                for line in execution_log(obj)
            ),
        )

    @admin.display(description="Credits held / charged / released")
    def credits(self, obj: Execution) -> str:
        found = execution_credits(obj)
        return f"{found['held']} / {found['charged']} / {found['released']}"

    @admin.action(description="Refund the selected completed executions", permissions=["support"])
    def refund(self, request, queryset):
        return refund_action(self, request, queryset.select_related("user", "hold"))

    @admin.action(description="Cancel the selected executions", permissions=["support"])
    def cancel(self, request, queryset):
        return cancel_action(self, request, queryset.select_related("user"))

    @admin.action(description="Retry the selected failed executions", permissions=["support"])
    def retry(self, request, queryset):
        return retry_action(self, request, queryset.select_related("user"))


@admin.register(Rating)
class RatingAdmin(ReadOnlyAdmin):
    list_display = ("template", "user", "score", "updated_at")
    search_fields = ("template__name", "user__email")
    list_select_related = ("template", "user")
