"""The ledger in the admin: read-only for everyone, credits move only through the services.

Support staff change credits with the "Grant credits" and "Adjust credits" actions (on users
and on token accounts); they call tokens.services like the staff API does, so every movement
is a ledger entry with the staff member as actor and the reason as memo.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote
from django.db.models import F, QuerySet
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from accounts.models import User
from core.exceptions import IdempotencyConflict
from support.models import Action
from support.services import can_act, support_record
from tokens.exceptions import InsufficientTokens
from tokens.forms import AdjustCreditsForm, CreditForm, GrantCreditsForm
from tokens.models import Hold, LedgerEntry, TokenAccount
from tokens.services import account_for_user, tokens_adjust, tokens_grant

# One action runs one short transaction per user inside the request; a selection this large
# belongs in a management command, not in a browser tab that may time out half-way.
MAX_CREDIT_USERS = 500


class ReadOnlyAdmin(admin.ModelAdmin):
    """View only: rows of the ledger are written by tokens.services and nothing else."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    # Even a "Save" that changes nothing would write back numbers read moments earlier,
    # which is the read-modify-write the ledger forbids.
    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def changelist_link(model, label: str, **filters) -> str:
    """A link to `model`'s admin list, filtered by `filters` (lookups the admin allows)."""
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    return format_html('<a href="{}?{}">{}</a>', url, query, label)


# --- Credit actions ---------------------------------------------------------------------------


class CreditActionsMixin:
    """The grant and adjust credit actions, for an admin whose rows lead to users.

    Each shows an intermediate form (amount, reason) for the selected users, then calls the
    ledger services once per user, and keeps each in the staff record. Needs support.act.
    """

    actions = ["grant_credits", "adjust_credits"]
    credit_action_template = "admin/tokens/credit_action.html"

    def credit_users(self, queryset: QuerySet) -> QuerySet[User]:
        """The users behind the selected rows."""
        raise NotImplementedError

    def has_credit_permission(self, request) -> bool:
        return can_act(request.user)

    @admin.action(description="Grant credits to the selected users", permissions=["credit"])
    def grant_credits(self, request, queryset):
        return self._credit_action(request, queryset, GrantCreditsForm, "grant_credits")

    @admin.action(description="Adjust credits of the selected users", permissions=["credit"])
    def adjust_credits(self, request, queryset):
        return self._credit_action(request, queryset, AdjustCreditsForm, "adjust_credits")

    def _credit_action(self, request, queryset, form_class, action: str):
        users = (
            self.credit_users(queryset)
            .select_related("subscription__plan", "token_account")
            .order_by("email")
        )
        count = users.count()
        if count > MAX_CREDIT_USERS:
            self.message_user(
                request,
                f"Select at most {MAX_CREDIT_USERS} users for a credit action "
                f"({count} selected). Nothing was changed.",
                messages.ERROR,
            )
            return None
        # "post" marks the submitted intermediate form; without it this is the first click
        # on the action in the changelist.
        if "post" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                self._apply_credits(request, list(users), form, action)
                return None
        else:
            form = form_class.fresh()
        return self._credit_form_response(request, queryset, users, form, action)

    def _credit_form_response(self, request, queryset, users, form: CreditForm, action: str):
        opts = self.model._meta
        request.current_app = self.admin_site.name
        title = "Grant credits" if action == "grant_credits" else "Adjust credits"
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "opts": opts,
            "form": form,
            "users": users,
            "selected": [str(pk) for pk in queryset.values_list("pk", flat=True)],
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, self.credit_action_template, context)

    def _apply_credits(self, request, users: list[User], form: CreditForm, action: str) -> None:
        amount = form.cleaned_data["amount"]
        reason = form.cleaned_data["reason"]
        key = form.cleaned_data["key"]
        applied, replayed = [], []
        for user in users:
            account = account_for_user(user=user)
            # The service returns the original entry when the key was used before; an entry
            # newer than the account's last one is what tells a fresh movement from a replay.
            last_id = account.entries.order_by("-id").values_list("id", flat=True).first() or 0
            idempotency_key = f"admin:{key}:{account.pk}"
            try:
                if action == "grant_credits":
                    entry = tokens_grant(
                        account=account,
                        amount=amount,
                        memo=reason,
                        actor=request.user,
                        idempotency_key=idempotency_key,
                    )
                else:
                    entry = tokens_adjust(
                        account=account,
                        amount=amount,
                        actor=request.user,
                        memo=reason,
                        idempotency_key=idempotency_key,
                    )
            except InsufficientTokens as exc:
                self.message_user(
                    request,
                    f"{user.email}: cannot deduct {-amount} credits, only {exc.available} "
                    f"available (the rest is on hold or not there). Nothing changed for "
                    f"this user.",
                    messages.ERROR,
                )
                continue
            except IdempotencyConflict:
                self.message_user(
                    request,
                    f"{user.email}: this form was already submitted with a different amount. "
                    f"Nothing changed for this user; start the action again for a new one.",
                    messages.ERROR,
                )
                continue
            if entry.pk > last_id:
                applied.append(user)
                support_record(
                    actor=request.user,
                    action=Action.GRANT if action == "grant_credits" else Action.ADJUST,
                    target=user,
                    customer=user,
                    reason=reason,
                    credits=amount,
                    ledger_entry=entry.pk,
                )
            else:
                replayed.append(user)
        verb = "Granted" if action == "grant_credits" else "Adjusted by"
        if applied:
            self.message_user(
                request,
                f"{verb} {amount} credits: {_emails(applied)}. Reason: {reason}",
                messages.SUCCESS,
            )
        if replayed:
            self.message_user(
                request,
                f"This form was already applied to {_emails(replayed)}; nothing moved again.",
                messages.WARNING,
            )


def _emails(users: list[User], shown: int = 10) -> str:
    names = ", ".join(user.email for user in users[:shown])
    if len(users) > shown:
        names += f" and {len(users) - shown} more"
    return names


# --- Admins -----------------------------------------------------------------------------------


@admin.register(TokenAccount)
class TokenAccountAdmin(CreditActionsMixin, ReadOnlyAdmin):
    list_display = (
        "user",
        "balance",
        "held",
        "available",
        "period_end",
        "refill_below",
        "refill_to",
        "updated_at",
    )
    list_select_related = ("user",)
    list_filter = ("user__subscription__plan", "user__is_demo")
    search_fields = ("user__email", "user__name")
    search_help_text = "Email or name of the user."
    ordering = ("-updated_at",)
    fields = (
        "user",
        "balance",
        "held",
        "available",
        "period_start",
        "period_end",
        "refill_below",
        "refill_to",
        "updated_at",
        "history",
    )
    readonly_fields = fields

    def credit_users(self, queryset):
        return User.objects.filter(pk__in=queryset.values("user_id"))

    @admin.display(ordering=F("balance") - F("held"))
    def available(self, account: TokenAccount) -> int:
        return account.available

    @admin.display(description="History")
    def history(self, account: TokenAccount) -> str:
        return format_html(
            "{} · {}",
            changelist_link(LedgerEntry, "Ledger entries", account__id__exact=account.pk),
            changelist_link(Hold, "Holds", account__id__exact=account.pk),
        )


class HoldEntryInline(admin.TabularInline):
    """The entries a hold produced (hold, capture/release, refunds), read-only."""

    model = LedgerEntry
    fk_name = "hold"
    fields = ("created_at", "kind", "amount", "held_delta", "balance_after", "memo")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "user",
        "operation",
        "amount",
        "status",
        "captured",
        "refunded",
        "created_at",
        "expires_at",
        "resolved_at",
    )
    list_select_related = ("account__user",)
    list_filter = ("status", "created_at")
    search_fields = ("account__user__email", "operation")
    search_help_text = "Email of the user, or the operation."
    show_full_result_count = False  # holds grow with every generation; skip the extra COUNT
    fields = (
        "account",
        "operation",
        "amount",
        "status",
        "captured",
        "refunded",
        "idempotency_key",
        "created_at",
        "expires_at",
        "resolved_at",
    )
    readonly_fields = fields
    inlines = [HoldEntryInline]

    @admin.display(description="user")
    def user(self, hold: Hold) -> User:
        return hold.account.user


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "user",
        "kind",
        "amount",
        "held_delta",
        "balance_after",
        "memo",
        "actor",
        "hold",
        "subject_label",
    )
    list_select_related = ("account__user", "actor", "hold", "content_type")
    # created_at as a list filter (today, 7 days, month, year) rather than date_hierarchy:
    # the hierarchy runs a DISTINCT over the dates of the whole table on every page view.
    list_filter = ("kind", "created_at")
    # Filtering by user is a search: a sidebar listing every user would not scale. Links from
    # a user or account page filter by account (account__id__exact).
    search_fields = ("account__user__email",)
    search_help_text = "Email of the account's user."
    show_full_result_count = False
    fields = (
        "account",
        "kind",
        "amount",
        "held_delta",
        "balance_after",
        "held_after",
        "memo",
        "actor",
        "hold",
        "subject_label",
        "idempotency_key",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="user")
    def user(self, entry: LedgerEntry) -> User:
        return entry.account.user

    @admin.display(description="subject")
    def subject_label(self, entry: LedgerEntry) -> str:
        # Built from content_type + object_id: resolving the generic relation would cost a
        # query per row of the list.
        if entry.content_type_id is None:
            return "-"
        label = f"{entry.content_type.model} {entry.object_id}"
        try:
            url = reverse(
                f"admin:{entry.content_type.app_label}_{entry.content_type.model}_change",
                args=[quote(entry.object_id)],  # as the admin quotes ids ("_" is its escape)
            )
        except NoReverseMatch:
            return label
        return format_html('<a href="{}">{}</a>', url, label)
