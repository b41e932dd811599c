"""Support in the admin: the staff record, and the mixin that runs a support action.

An action shows a form (a reason, and what else it needs) for the selected rows, then calls
a support.services function per row; refusals (already refunded, not active…) are reported
per row and change nothing. Only users with support.act see the actions.
"""

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Model, QuerySet
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from core.exceptions import DomainError
from support import services
from support.forms import ReasonForm
from support.models import SupportAction
from tokens.admin import ReadOnlyAdmin


def html_table(headers: tuple[str, ...], rows) -> str:
    """A small read-only table for an admin field (each value escaped)."""
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    cells = "".join("<td>{}</td>" for _ in headers)
    body = format_html_join("", "<tr>" + cells + "</tr>", rows)
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


# One form, one short transaction per row, inside the request.
MAX_ROWS = 200


@admin.register(SupportAction)
class SupportActionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor", "action", "target_type", "target_id", "customer",
                    "reason")  # fmt: skip
    list_filter = ("action", "target_type", "created_at", "actor")
    search_fields = ("target_id", "customer__email", "actor__email", "reason")
    list_select_related = ("actor", "customer")
    readonly_fields = ("created_at", "actor", "action", "target_type", "target_id", "customer",
                       "reason", "details")  # fmt: skip
    show_full_result_count = False


class SupportActionsMixin:
    """For a ModelAdmin whose actions are support actions (`permissions=["support"]`)."""

    support_template = "admin/support/action_form.html"

    def has_support_permission(self, request) -> bool:
        return services.can_act(request.user)

    def support_action(
        self,
        request,
        queryset: QuerySet,
        *,
        title: str,
        apply: Callable[[Model, dict], str],
        form_class=ReasonForm,
        explain: str = "",
    ):
        """Ask for the form, then `apply(row, cleaned_data)` to each row; it returns what to
        tell the staff member, or raises a DomainError that is shown for that row."""
        rows = list(queryset[: MAX_ROWS + 1])
        if len(rows) > MAX_ROWS:
            self.message_user(
                request, f"Select at most {MAX_ROWS} rows. Nothing was changed.", messages.ERROR
            )
            return None
        if "post" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                for row in rows:
                    try:
                        said = apply(row, form.cleaned_data)
                    except DomainError as exc:
                        self.message_user(request, f"{row}: {exc.message}", messages.ERROR)
                    else:
                        self.message_user(request, f"{row}: {said}", messages.SUCCESS)
                return None
        else:
            form = form_class()
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "explain": explain,
            "opts": self.model._meta,
            "form": form,
            "rows": rows,
            "selected": [str(row.pk) for row in rows],
            "action": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, self.support_template, context)
