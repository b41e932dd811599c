"""Users and plans in the admin, for support staff.

Users log in with their email (no username). Their plan and credits show in the list; credits
change only through the "Grant credits" / "Adjust credits" actions (tokens.admin), which post
ledger entries through tokens.services.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import F
from django.utils.html import format_html

from accounts.models import Plan, Subscription, User
from tokens.admin import CreditActionsMixin, changelist_link
from tokens.models import Hold, LedgerEntry, TokenAccount


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


class SubscriptionInline(admin.StackedInline):
    model = Subscription
    fields = ("plan", "custom_credits_per_month", "started_at")
    can_delete = False
    max_num = 1
    extra = 1


@admin.register(User)
class UserAdmin(CreditActionsMixin, BaseUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "is_demo")}),
        ("Credits", {"fields": ("balance", "held", "available", "history")}),
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
        ("Dates", {"fields": ("last_login", "date_joined", "updated_at")}),
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
    readonly_fields = ("balance", "held", "available", "history", "updated_at")
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

    def credit_users(self, queryset):
        return queryset

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
