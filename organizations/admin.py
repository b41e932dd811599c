"""Organizations in the admin, for support staff: who is in one, what it was invited to, and its
shared credits with the member who spent each.

Everything here is view only. People, roles and limits change through organizations.services,
which keep their rules (only an owner touches an owner, an organization keeps an owner);
credits move only through the "Grant credits" / "Adjust credits" actions (tokens.admin), the
same ones users and token accounts have. Invitation tokens are only stored hashed: the admin
never shows the hash and never makes invitations.
"""

from django.contrib import admin
from django.db.models import Count, F
from django.utils import timezone
from django.utils.html import format_html

from organizations.models import Invitation, Membership, Organization
from organizations.services import member_spent
from support.admin import html_table
from tokens.admin import (
    CreditActionsMixin,
    ReadOnlyAdmin,
    ViewOnlyInline,
    changelist_link,
    entry_member,
)
from tokens.models import Hold, LedgerEntry, TokenAccount
from tokens.services import month_bounds

RECENT_ENTRIES = 20  # ledger entries shown on an organization's page; the link leads to all


def spent_this_month(membership: Membership) -> int:
    """What the member spent from the organization this calendar month, as their limit counts."""
    start, _ = month_bounds(timezone.now())
    return member_spent(membership=membership, since=start)


def invitation_state(invitation: Invitation) -> str:
    if invitation.accepted_at is not None:
        return f"accepted {invitation.accepted_at:%Y-%m-%d %H:%M} by {invitation.accepted_by}"
    if invitation.revoked_at is not None:
        return f"revoked {invitation.revoked_at:%Y-%m-%d %H:%M}"
    if invitation.is_expired:
        return "expired"
    return "pending"


class MembershipInline(ViewOnlyInline):
    model = Membership
    fields = ("user", "role", "monthly_limit", "spent", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "organization")

    @admin.display(description="spent this month")
    def spent(self, membership: Membership) -> int:
        return spent_this_month(membership)


class InvitationInline(ViewOnlyInline):
    model = Invitation
    # Not token_hash: what the link carries is nobody's business but the invitee's.
    fields = ("email", "role", "invited_by", "created_at", "expires_at", "state")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invited_by", "accepted_by")

    @admin.display(description="state")
    def state(self, invitation: Invitation) -> str:
        return invitation_state(invitation)


@admin.register(Organization)
class OrganizationAdmin(CreditActionsMixin, ReadOnlyAdmin):
    list_display = ("name", "slug", "members", "balance", "held", "available", "created_at")
    list_select_related = ("token_account",)
    list_filter = ("created_at",)
    search_fields = ("name", "slug", "memberships__user__email")
    search_help_text = "Name or slug of the organization, or the email of a member."
    fields = ("name", "slug", "created_by", "created_at", "balance", "held", "available",
              "ledger")  # fmt: skip
    readonly_fields = fields
    inlines = [MembershipInline, InvitationInline]

    def get_queryset(self, request):
        # distinct: a search by member email joins the memberships a second time, which would
        # multiply the count by the members it matched.
        members = Count("memberships", distinct=True)
        return super().get_queryset(request).annotate(member_count=members)

    def credit_accounts(self, queryset):
        return TokenAccount.objects.filter(organization__in=queryset)

    @staticmethod
    def _account(organization: Organization) -> TokenAccount | None:
        # organizations.services opens it with the organization; None only for a row made
        # some other way, which the page should still show.
        return getattr(organization, "token_account", None)

    @admin.display(ordering="member_count")
    def members(self, organization: Organization) -> int:
        return organization.member_count

    @admin.display(ordering="token_account__balance")
    def balance(self, organization: Organization) -> int | None:
        account = self._account(organization)
        return account.balance if account else None

    @admin.display(ordering="token_account__held")
    def held(self, organization: Organization) -> int | None:
        account = self._account(organization)
        return account.held if account else None

    @admin.display(ordering=F("token_account__balance") - F("token_account__held"))
    def available(self, organization: Organization) -> int | None:
        account = self._account(organization)
        return account.available if account else None

    @admin.display(description="ledger")
    def ledger(self, organization: Organization) -> str:
        account = self._account(organization)
        if account is None:
            return "No token account."
        entries = account.entries.select_related("actor", "hold__member").order_by("-id")
        rows = [
            (
                f"{entry.created_at:%Y-%m-%d %H:%M}",
                entry.kind,
                f"{entry.amount:+d}",
                entry.balance_after,
                entry_member(entry) or "-",
                entry.actor or "-",
                entry.memo,
            )
            for entry in entries[:RECENT_ENTRIES]
        ]
        table = (
            html_table(("When", "Kind", "Amount", "Balance after", "Member", "Staff", "Memo"), rows)
            if rows
            else "No entries yet."
        )
        return format_html(
            "{}<p>{} · {} · {}</p>",
            table,
            changelist_link(TokenAccount, "Token account", id__exact=account.pk),
            changelist_link(LedgerEntry, "All ledger entries", account__id__exact=account.pk),
            changelist_link(Hold, "Holds", account__id__exact=account.pk),
        )


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ("user", "organization", "role", "monthly_limit", "created_at")
    list_select_related = ("user", "organization")
    list_filter = ("role",)
    search_fields = ("user__email", "organization__name", "organization__slug")
    search_help_text = "Email of the member, or name or slug of the organization."
    fields = ("organization", "user", "role", "monthly_limit", "spent", "created_at")
    readonly_fields = fields

    @admin.display(description="spent this month")
    def spent(self, membership: Membership) -> int:
        return spent_this_month(membership)


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ("email", "organization", "role", "invited_by", "created_at", "expires_at",
                    "state")  # fmt: skip
    list_select_related = ("organization", "invited_by", "accepted_by")
    list_filter = ("role", "created_at")
    search_fields = ("email", "organization__name", "organization__slug")
    search_help_text = "Email invited, or name or slug of the organization."
    fields = ("organization", "email", "role", "invited_by", "created_at", "expires_at",
              "accepted_at", "accepted_by", "revoked_at", "state")  # fmt: skip
    readonly_fields = fields

    @admin.display(description="state")
    def state(self, invitation: Invitation) -> str:
        return invitation_state(invitation)
