"""Invitations: single-use, by email, expiring; only owners and admins invite; expired, reused,
wrong-email and revoked tokens are refused with clear errors."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.exceptions import Forbidden, NotFound
from organizations.models import Invitation, Membership, Role
from organizations.services import (
    InvitationInvalid,
    invitation_accept,
    invitation_create,
    invitation_revoke,
    organization_create,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_membership():
    organization = organization_create(user=UserFactory(), name="Studio North")
    return organization.memberships.get()


def test_an_invited_person_joins_with_the_role_they_were_invited_as(owner_membership):
    guest = UserFactory(email="ana@example.com")
    invitation, token = invitation_create(by=owner_membership, email="Ana@Example.com ")
    assert invitation.token_hash != token and len(token) >= 40  # only the hash is kept
    membership = invitation_accept(user=guest, token=token)
    assert (membership.organization, membership.role) == (owner_membership.organization, "member")
    invitation.refresh_from_db()
    assert invitation.accepted_by == guest and invitation.accepted_at is not None


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (
            lambda inv: Invitation.objects.filter(pk=inv.pk).update(revoked_at=timezone.now()),
            "revoked",
        ),
        (
            lambda inv: Invitation.objects.filter(pk=inv.pk).update(accepted_at=timezone.now()),
            "used",
        ),
        (
            lambda inv: Invitation.objects.filter(pk=inv.pk).update(
                expires_at=timezone.now() - timedelta(seconds=1)
            ),
            "expired",
        ),
    ],
)
def test_a_spent_invitation_is_refused_with_why(owner_membership, spoil, reason):
    guest = UserFactory(email="ana@example.com")
    invitation, token = invitation_create(by=owner_membership, email="ana@example.com")
    spoil(invitation)
    with pytest.raises(InvitationInvalid) as refused:
        invitation_accept(user=guest, token=token)
    assert refused.value.details["reason"] == reason
    assert not Membership.objects.filter(user=guest).exists()


def test_an_invitation_is_used_once_and_only_by_its_email(owner_membership):
    _, token = invitation_create(by=owner_membership, email="ana@example.com")
    with pytest.raises(InvitationInvalid) as wrong:
        invitation_accept(user=UserFactory(email="bo@example.com"), token=token)
    assert wrong.value.details["reason"] == "wrong_email"
    ana = UserFactory(email="ana@example.com")
    invitation_accept(user=ana, token=token)
    with pytest.raises(InvitationInvalid) as reused:
        invitation_accept(user=ana, token=token)
    assert reused.value.details["reason"] == "used"
    with pytest.raises(NotFound):
        invitation_accept(user=ana, token="not-a-token")


def test_only_owners_and_admins_invite_and_revoke(owner_membership):
    organization = owner_membership.organization
    member = Membership.objects.create(organization=organization, user=UserFactory())
    admin = Membership.objects.create(
        organization=organization, user=UserFactory(), role=Role.ADMIN
    )
    with pytest.raises(Forbidden):
        invitation_create(by=member, email="x@example.com")
    with pytest.raises(Forbidden):
        invitation_create(by=admin, email="x@example.com", role=Role.OWNER)
    invitation, token = invitation_create(by=admin, email="x@example.com")
    with pytest.raises(Forbidden):
        invitation_revoke(by=member, invitation=invitation)
    invitation_revoke(by=admin, invitation=invitation)
    with pytest.raises(InvitationInvalid):
        invitation_revoke(by=admin, invitation=invitation)
    with pytest.raises(InvitationInvalid) as refused:
        invitation_accept(user=UserFactory(email="x@example.com"), token=token)
    assert refused.value.details["reason"] == "revoked"
