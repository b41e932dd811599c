"""Reads of organizations: finding one as a member, its people and invitations, its ledger with
the member on each entry, and what its credits went on."""

import uuid
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from core.exceptions import NotFound
from organizations.models import Invitation, Membership, Organization
from tokens.models import LedgerEntry, TokenAccount
from tokens.selectors import SPENDING_KINDS, entry_list
from tokens.services._core import month_bounds

USAGE_DAYS = 30


def month_start() -> datetime:
    """Where the calendar month that monthly limits count began."""
    return month_bounds(timezone.now())[0]


def membership_for(*, user, slug: str) -> Membership:
    """`user`'s membership of the open organization `slug`. Anyone else, a removed member
    included, gets NotFound: an organization is invisible from outside, never forbidden."""
    membership = (
        Membership.objects.select_related("organization")
        .filter(user=user, organization__slug=slug[:50], organization__closed_at=None)
        .first()
    )
    if membership is None:
        raise NotFound("No such organization", slug=slug[:50])
    return membership


def membership_list_for_user(*, user) -> QuerySet[Membership]:
    """The organizations `user` belongs to (their memberships), with each one's member count."""
    return (
        Membership.objects.filter(user=user, organization__closed_at=None)
        .select_related("organization")
        .annotate(member_count=Count("organization__memberships"))
        .order_by("organization__name", "organization__slug")
    )


def member_count(*, organization: Organization) -> int:
    return Membership.objects.filter(organization=organization).count()


def member_list(*, organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=organization).select_related("user")


def member_get(*, organization: Organization, user_id: str) -> Membership:
    pk = _uuid_or_none(user_id)
    membership = (
        Membership.objects.filter(organization=organization, user__pk=pk)
        .select_related("user", "organization")
        .first()
        if pk
        else None
    )
    if membership is None:
        raise NotFound("No such member", member=user_id[:64])
    return membership


def invitation_list(*, organization: Organization) -> QuerySet[Invitation]:
    """Invitations not yet accepted or revoked (expired ones included, marked as such)."""
    return Invitation.objects.filter(
        organization=organization, accepted_at=None, revoked_at=None
    ).select_related("invited_by")


def invitation_get(*, organization: Organization, invitation_id: str) -> Invitation:
    invitation = (
        Invitation.objects.filter(organization=organization, pk=int(invitation_id)).first()
        if invitation_id.isdigit() and len(invitation_id) < 12
        else None
    )
    if invitation is None:
        raise NotFound("No such invitation", invitation=invitation_id[:64])
    return invitation


def organization_account(*, organization: Organization) -> TokenAccount:
    return TokenAccount.objects.get(organization=organization)


def organization_entries(*, account: TokenAccount, kind: str | None = None):
    """The organization's ledger, newest first, each entry with the member who spent."""
    return entry_list(account=account, kind=kind).select_related("hold__member", "actor")


def usage(*, account: TokenAccount, now: datetime | None = None) -> dict:
    """Credits spent in the last USAGE_DAYS days (captures less refunds), by member and by
    operation (without its model: "image_generation:flux-pro" counts as "image_generation")."""
    until = now or timezone.now()
    since = until - timedelta(days=USAGE_DAYS)
    spending = LedgerEntry.objects.filter(
        account=account, kind__in=SPENDING_KINDS, created_at__gte=since, hold__isnull=False
    )
    totals = {
        row["hold__member"]: -row["total"]
        for row in spending.values("hold__member").annotate(total=Sum("amount"))
        if row["total"]
    }
    people = get_user_model().objects.in_bulk([pk for pk in totals if pk])
    by_member = [{"member": people.get(pk), "credits": credits} for pk, credits in totals.items()]
    by_operation: dict[str, int] = {}
    for row in spending.values("hold__operation").annotate(total=Sum("amount")):
        operation = row["hold__operation"].split(":", 1)[0]
        by_operation[operation] = by_operation.get(operation, 0) - row["total"]
    return {
        "since": since,
        "until": until,
        "by_member": sorted(by_member, key=lambda row: -row["credits"]),
        "by_operation": sorted(
            ({"operation": k, "credits": v} for k, v in by_operation.items() if v),
            key=lambda row: -row["credits"],
        ),
    }


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value[:64])
    except ValueError:
        return None
