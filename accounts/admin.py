"""Users and plans in the admin, for support staff.

Users log in with their email (no username). Their plan and credits show in the list; credits
change only through the "Grant credits" / "Adjust credits" actions (tokens.admin), which post
ledger entries through tokens.services.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import F
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from accounts.models import DataExport, Plan, Subscription, User
from pipelines.models import Execution
from studio.models import Generation
from support import services as support
from support.admin import SupportActionsMixin
from support.forms import PlanForm
from support.models import SupportAction
from tokens.admin import CreditActionsMixin, ReadOnlyAdmin, changelist_link
from tokens.models import Hold, LedgerEntry, TokenAccount
from tokens.services import account_for_user


class EmailNormalizingMixin:
    """Emails are stored lowercased (UserManager.normalize_email) and login lowercases what
    it is given: an address saved as typed (Ann@x) could never log in, and could sit next to
    ann@x as a second account."""

    def clean_email(self) -> str:
        return User.objects.normalize_email(self.cleaned_data.get("email"))


class UserCreationForm(EmailNormalizingMixin, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "name")


class UserChangeAdminForm(EmailNormalizingMixin, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


RECENT = 10  # jobs shown on a user's page; the link leads to all of them


def _recent(model, rows, user: User, parts) -> str:
    """The last few jobs, each linked to its admin page, then a link to all of them."""
    opts = model._meta
    rows = list(rows)
    if not rows:
        return "None yet."
    page = f"admin:{opts.app_label}_{opts.model_name}_change"
    items = format_html_join(
        "",
        '<li><a href="{}">{}</a> · {} · {} · {} · {} credits</li>',
        ((reverse(page, args=[quote(row.pk)]), row.pk, *parts(row)) for row in rows),
    )
    every = changelist_link(model, f"All {opts.verbose_name_plural}", user__id__exact=user.pk)
    return format_html('<ul class="recent-jobs">{}</ul>{}', items, every)


class SubscriptionInline(admin.StackedInline):
    model = Subscription
    fields = ("plan", "custom_credits_per_month", "started_at")
    can_delete = False
    max_num = 1
    extra = 1


@admin.register(User)
class UserAdmin(SupportActionsMixin, CreditActionsMixin, BaseUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "is_demo")}),
        ("Credits", {"fields": ("plan_now", "balance", "held", "available", "history")}),
        ("Recent work", {"fields": ("recent_generations", "recent_executions", "staff_record")}),
        (
            "Permissions",
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                ),
            },
        ),
        ("Dates", {"fields": ("last_login", "date_joined", "updated_at", "deleted_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "name", "usable_password", "password1", "password2"),
            },
        ),
    )
    readonly_fields = ("plan_now", "balance", "held", "available", "history", "updated_at",
                       "deleted_at", "recent_generations", "recent_executions",
                       "staff_record")  # fmt: skip
    actions = [*CreditActionsMixin.actions, "suspend", "reactivate", "change_plan"]
    list_display = (
        "email",
        "name",
        "plan",
        "balance",
        "available",
        "is_staff",
        "is_demo",
        "date_joined",
    )
    # Plan and account come in the list's one query instead of two queries per row.
    list_select_related = ("subscription__plan", "token_account")
    list_filter = ("is_staff", "is_superuser", "is_active", "is_demo", "subscription__plan")
    search_fields = ("email", "name")
    ordering = ("-date_joined",)

    def get_inlines(self, request, obj):
        # The add form is BaseUserAdmin's two-password form; the plan is chosen on the page
        # that follows (until then the user is on the default plan, as at sign-up).
        return [SubscriptionInline] if obj else []

    def credit_accounts(self, queryset):
        return TokenAccount.objects.filter(user__in=queryset)

    def credit_accounts_open(self, queryset):
        for user in queryset.filter(token_account__isnull=True):
            account_for_user(user=user)  # opened with the plan's credits, as on first use

    # --- Support actions (support.services) ---------------------------------------------------

    @admin.action(description="Suspend the selected users", permissions=["support"])
    def suspend(self, request, queryset):
        def apply(user, data):
            cancelled = support.user_suspend(actor=request.user, user=user, reason=data["reason"])
            return f"suspended; {cancelled} running job(s) cancelled and refunded."

        return self.support_action(
            request,
            queryset,
            title="Suspend",
            apply=apply,
            explain="Each can no longer log in; their sessions and refresh tokens stop working "
            "and their queued and running jobs are cancelled and refunded.",
        )

    @admin.action(description="Reactivate the selected users", permissions=["support"])
    def reactivate(self, request, queryset):
        def apply(user, data):
            support.user_reactivate(actor=request.user, user=user, reason=data["reason"])
            return "can log in again."

        return self.support_action(request, queryset, title="Reactivate", apply=apply)

    @admin.action(description="Change the plan of the selected users", permissions=["support"])
    def change_plan(self, request, queryset):
        def apply(user, data):
            at_renewal = data["when"] == "renewal"
            support.plan_change(
                actor=request.user,
                user=user,
                plan=data["plan"],
                reason=data["reason"],
                at_renewal=at_renewal,
            )
            return f"on {data['plan']} " + ("from the next renewal." if at_renewal else "now.")

        return self.support_action(
            request, queryset, title="Change plan", apply=apply, form_class=PlanForm
        )

    # --- Read-only fields -----------------------------------------------------------------------

    @admin.display(description="plan")
    def plan_now(self, user: User) -> str:
        subscription = getattr(user, "subscription", None)
        if subscription is None:
            return "-"
        if subscription.pending_plan_id:
            return f"{subscription.plan} (→ {subscription.pending_plan} at the next renewal)"
        return str(subscription.plan)

    @admin.display(description="generations")
    def recent_generations(self, user: User) -> str:
        jobs = user.generations.order_by("-created_at")[:RECENT]
        return _recent(
            Generation,
            jobs,
            user,
            lambda g: (g.kind, g.status, f"{g.created_at:%Y-%m-%d %H:%M}", g.cost),
        )

    @admin.display(description="executions")
    def recent_executions(self, user: User) -> str:
        runs = Execution.objects.filter(user=user).select_related("template")
        runs = runs.order_by("-created_at")[:RECENT]
        return _recent(
            Execution,
            runs,
            user,
            lambda e: (e.template.name, e.status, f"{e.created_at:%Y-%m-%d %H:%M}", e.cost),
        )

    @admin.display(description="staff record")
    def staff_record(self, user: User) -> str:
        return changelist_link(SupportAction, "What support did here", customer__id__exact=user.pk)

    @staticmethod
    def _account(user: User) -> TokenAccount | None:
        # A superuser made with createsuperuser has no account until its first use.
        return getattr(user, "token_account", None)

    @admin.display(ordering="subscription__plan__sort_order")
    def plan(self, user: User) -> Plan | None:
        subscription = getattr(user, "subscription", None)
        return subscription.plan if subscription else None

    # A missing account shows as the admin's empty value ("-").
    @admin.display(ordering="token_account__balance")
    def balance(self, user: User) -> int | None:
        account = self._account(user)
        return account.balance if account else None

    @admin.display(ordering="token_account__held")
    def held(self, user: User) -> int | None:
        account = self._account(user)
        return account.held if account else None

    @admin.display(ordering=F("token_account__balance") - F("token_account__held"))
    def available(self, user: User) -> int | None:
        account = self._account(user)
        return account.available if account else None

    @admin.display(description="history")
    def history(self, user: User) -> str:
        account = self._account(user)
        if account is None:
            return "No token account yet; it opens on first use."
        return format_html(
            "{} · {} · {}",
            changelist_link(TokenAccount, "Token account", id__exact=account.pk),
            changelist_link(LedgerEntry, "Ledger entries", account__id__exact=account.pk),
            changelist_link(Hold, "Holds", account__id__exact=account.pk),
        )


class PlanAdminForm(forms.ModelForm):
    class Meta:
        model = Plan
        fields = (
            "code",
            "name",
            "credits_per_month",
            "rollover_cap",
            "images_per_minute",
            "videos_per_minute",
            "api_calls_per_minute",
            "is_default",
            "sort_order",
        )

    def clean_is_default(self) -> bool:
        is_default = self.cleaned_data["is_default"]
        if is_default:
            current = Plan.objects.filter(is_default=True).exclude(pk=self.instance.pk).first()
            if current is not None:
                raise forms.ValidationError(
                    f"“{current}” is the default plan; untick it there first."
                )
        return is_default


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    form = PlanAdminForm
    list_display = PlanAdminForm.Meta.fields
    list_display_links = ("code", "name")
    search_fields = ("code", "name")


@admin.register(DataExport)
class DataExportAdmin(ReadOnlyAdmin):
    """Users' data downloads: built by a job, expired by the sweeper; nothing to edit."""

    list_display = ("id", "user", "status", "size", "created_at", "finished_at", "expires_at")
    list_filter = ("status", "created_at")
    search_fields = ("id", "user__email")
    list_select_related = ("user",)
