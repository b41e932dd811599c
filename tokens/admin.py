"""The ledger in the admin: read-only for everyone, credits move only through the services.

Support staff change credits with the "Grant credits" and "Adjust credits" actions (on users,
organizations and token accounts); they call tokens.services like the staff API does, so every
movement is a ledger entry with the staff member as actor and the reason as memo.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote
from django.db.models import F, QuerySet
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from core.exceptions import IdempotencyConflict
from support.models import Action
from support.services import can_act, support_record
from tokens.audit import owner_label
from tokens.exceptions import InsufficientTokens
from tokens.forms import AdjustCreditsForm, CreditForm, GrantCreditsForm
from tokens.models import Hold, LedgerEntry, TokenAccount
from tokens.services import tokens_adjust, tokens_grant, tokens_renew

# One action runs one short transaction per account inside the request; a selection this large
# belongs in a management command, not in a browser tab that may time out half-way.
MAX_CREDIT_ACCOUNTS = 500


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
    """The grant and adjust credit actions, for an admin whose rows lead to token accounts
    (users', organizations', or the accounts themselves).

    Each shows an intermediate form (amount, reason) for the selected rows, then calls the
    ledger services once per account, and keeps each in the staff record. Needs support.act.
    """

    actions = ["grant_credits", "adjust_credits"]
    credit_action_template = "admin/tokens/credit_action.html"

    def credit_accounts(self, queryset: QuerySet) -> QuerySet[TokenAccount]:
        """The token accounts behind the selected rows."""
        raise NotImplementedError

    def credit_accounts_open(self, queryset: QuerySet) -> None:
        """Open the accounts that selected rows do not have yet; called just before credits
        move, never for showing the form (a user made with createsuperuser has none)."""

    def has_credit_permission(self, request) -> bool:
        return can_act(request.user)

    @admin.action(
        description="Grant credits to the selected %(verbose_name_plural)s", permissions=["credit"]
    )
    def grant_credits(self, request, queryset):
        return self._credit_action(request, queryset, GrantCreditsForm, "grant_credits")

    @admin.action(
        description="Adjust credits of the selected %(verbose_name_plural)s",
        permissions=["credit"],
    )
    def adjust_credits(self, request, queryset):
        return self._credit_action(request, queryset, AdjustCreditsForm, "adjust_credits")

    def _accounts(self, queryset) -> QuerySet[TokenAccount]:
        return (
            self.credit_accounts(queryset)
            .select_related("user__subscription__plan", "organization")
            .order_by("user__email", "organization__slug")
        )

    def _credit_action(self, request, queryset, form_class, action: str):
        count = queryset.count()
        if count > MAX_CREDIT_ACCOUNTS:
            self.message_user(
                request,
                f"Select at most {MAX_CREDIT_ACCOUNTS} {self.model._meta.verbose_name_plural} "
                f"for a credit action ({count} selected). Nothing was changed.",
                messages.ERROR,
            )
            return None
        # "post" marks the submitted intermediate form; without it this is the first click
        # on the action in the changelist.
        if "post" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                self.credit_accounts_open(queryset)
                self._apply_credits(request, list(self._accounts(queryset)), form, action)
                return None
        else:
            form = form_class.fresh()
        return self._credit_form_response(request, queryset, count, form, action)

    def _credit_form_response(self, request, queryset, count, form: CreditForm, action: str):
        request.current_app = self.admin_site.name
        accounts = [(owner_label(account), account) for account in self._accounts(queryset)]
        context = {
            **self.admin_site.each_context(request),
            "title": "Grant credits" if action == "grant_credits" else "Adjust credits",
            "subtitle": None,
            "opts": self.model._meta,
            "form": form,
            "accounts": accounts,
            "unopened": count - len(accounts),
            "selected": [str(pk) for pk in queryset.values_list("pk", flat=True)],
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, self.credit_action_template, context)

    def _apply_credits(self, request, accounts: list[TokenAccount], form, action: str) -> None:
        amount = form.cleaned_data["amount"]
        reason = form.cleaned_data["reason"]
        key = form.cleaned_data["key"]
        applied, replayed = [], []
        for account in accounts:
            name = owner_label(account)
            # A period that has ended is renewed first (as on any use of the account), so the
            # grant is not swept up by the expiry of the month it arrived after.
            tokens_renew(account=account)
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
                    f"{name}: cannot deduct {-amount} credits, only {exc.available} "
                    f"available (the rest is on hold or not there). Nothing changed for "
                    f"this account.",
                    messages.ERROR,
                )
                continue
            except IdempotencyConflict:
                self.message_user(
                    request,
                    f"{name}: this form was already submitted with a different amount. "
                    f"Nothing changed for this account; start the action again for a new one.",
                    messages.ERROR,
                )
                continue
            if entry.pk > last_id:
                applied.append(name)
                support_record(
                    actor=request.user,
                    action=Action.GRANT if action == "grant_credits" else Action.ADJUST,
                    target=account.owner,
                    customer=account.user,  # None for an organization: no one user's account
                    reason=reason,
                    credits=amount,
                    ledger_entry=entry.pk,
                )
            else:
                replayed.append(name)
        verb = "Granted" if action == "grant_credits" else "Adjusted by"
        if applied:
            self.message_user(
                request,
                f"{verb} {amount} credits: {_names(applied)}. Reason: {reason}",
                messages.SUCCESS,
            )
        if replayed:
            self.message_user(
                request,
                f"This form was already applied to {_names(replayed)}; nothing moved again.",
                messages.WARNING,
            )


def _names(names: list[str], shown: int = 10) -> str:
    listed = ", ".join(names[:shown])
    if len(names) > shown:
        listed += f" and {len(names) - shown} more"
    return listed


def entry_member(entry: LedgerEntry):
    """Who spent, on an organization's account: the member named on the entry's hold."""
    return entry.hold.member if entry.hold_id else None


def owner_link(account: TokenAccount) -> str:
    """The account's owner (user or organization), linked to its admin page."""
    owner = account.owner
    opts = owner._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(owner.pk)])
    return format_html('<a href="{}">{}</a>', url, owner)


# --- Admins -----------------------------------------------------------------------------------


class OwnerKindFilter(admin.SimpleListFilter):
    title = "owner"
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        return [("user", "Users"), ("organization", "Organizations")]

    def queryset(self, request, queryset):
        if self.value() in ("user", "organization"):
            return queryset.filter(**{f"{self.value()}__isnull": False})
        return queryset


@admin.register(TokenAccount)
class TokenAccountAdmin(CreditActionsMixin, ReadOnlyAdmin):
    list_display = (
        "owner",
        "balance",
        "held",
        "available",
        "period_end",
        "refill_below",
        "refill_to",
        "updated_at",
    )
    list_select_related = ("user", "organization")
    list_filter = (OwnerKindFilter, "user__subscription__plan", "user__is_demo")
    search_fields = ("user__email", "user__name", "organization__name", "organization__slug")
    search_help_text = "Email or name of the user, or name or slug of the organization."
    ordering = ("-updated_at",)
    fields = (
        "owner_page",
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

    def credit_accounts(self, queryset):
        return queryset

    @admin.display(description="owner")
    def owner(self, account: TokenAccount):
        return account.owner

    @admin.display(description="owner")
    def owner_page(self, account: TokenAccount) -> str:
        return owner_link(account)

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


class ViewOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class HoldEntryInline(ViewOnlyInline):
    """The entries a hold produced (hold, capture/release, refunds), read-only."""

    model = LedgerEntry
    fk_name = "hold"
    fields = ("created_at", "kind", "amount", "held_delta", "balance_after", "memo")
    readonly_fields = fields


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "owner",
        "member",
        "operation",
        "amount",
        "status",
        "captured",
        "refunded",
        "created_at",
        "expires_at",
        "resolved_at",
    )
    list_select_related = ("account__user", "account__organization", "member")
    list_filter = ("status", "created_at")
    search_fields = ("account__user__email", "account__organization__slug", "operation")
    search_help_text = "Email of the user, slug of the organization, or the operation."
    show_full_result_count = False  # holds grow with every generation; skip the extra COUNT
    fields = (
        "account",
        "member",
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

    @admin.display(description="owner")
    def owner(self, hold: Hold):
        return hold.account.owner


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "owner",
        "kind",
        "amount",
        "held_delta",
        "balance_after",
        "memo",
        "actor",
        "member",
        "hold",
        "subject_label",
    )
    list_select_related = (
        "account__user",
        "account__organization",
        "actor",
        "hold__member",
        "content_type",
    )
    # created_at as a list filter (today, 7 days, month, year) rather than date_hierarchy:
    # the hierarchy runs a DISTINCT over the dates of the whole table on every page view.
    list_filter = ("kind", "created_at")
    # Filtering by user is a search: a sidebar listing every user would not scale. Links from
    # a user or account page filter by account (account__id__exact).
    search_fields = ("account__user__email", "account__organization__slug")
    search_help_text = "Email of the account's user, or slug of its organization."
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
        "member",
        "subject_label",
        "idempotency_key",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="owner")
    def owner(self, entry: LedgerEntry):
        return entry.account.owner

    @admin.display(description="member")
    def member(self, entry: LedgerEntry):
        return entry_member(entry)

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
