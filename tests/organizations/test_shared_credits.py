"""An organization's shared account: members' holds come from it exactly as a user's do, and a
member's monthly limit holds under parallel jobs (checked in the hold's transaction)."""

import pytest

from core.exceptions import Forbidden
from organizations.models import Membership, Role
from organizations.services import (
    SpendingLimitReached,
    account_for_organization,
    member_hold_create,
    member_spent,
    organization_create,
)
from tests.factories import UserFactory
from tests.tokens.test_concurrency import outcome, run_together
from tokens.audit import ledger_audit
from tokens.exceptions import InsufficientTokens
from tokens.models import Hold, HoldStatus
from tokens.services import hold_capture, hold_refund, hold_release, tokens_grant

pytestmark = pytest.mark.django_db(transaction=True)


def funded(credits: int, members: int = 0, **membership):
    owner = UserFactory()
    organization = organization_create(user=owner, name="Studio North")
    account = account_for_organization(organization=organization)
    tokens_grant(account=account, amount=credits, memo="Team pack")
    people = [
        Membership.objects.create(
            organization=organization, user=UserFactory(), **{"role": Role.MEMBER, **membership}
        )
        for _ in range(members)
    ]
    return account, people


def test_a_new_organization_has_its_owner_and_an_empty_account_of_its_own():
    owner = UserFactory(credits=50)
    organization = organization_create(user=owner, name="Studio North")
    assert organization.slug == "studio-north"
    assert organization.memberships.get().role == Role.OWNER
    account = account_for_organization(organization=organization)
    assert (account.balance, account.held, account.user_id) == (0, 0, None)
    assert owner.token_account.balance == 50  # the owner's own credits are not the team's
    assert ledger_audit() == []


def test_a_members_hold_charges_the_organization_and_names_the_member():
    account, (member,) = funded(100, members=1)
    hold = member_hold_create(membership=member, amount=10, operation="image_generation")
    account.refresh_from_db()
    assert (account.balance, account.held) == (100, 10)
    assert Hold.objects.get(pk=hold.pk).member == member.user
    assert member.user.token_account.held == 0
    hold_capture(hold=hold)
    assert member_spent(membership=member, since=hold.created_at) == 10
    assert ledger_audit() == []


def test_the_limit_counts_what_is_held_and_charged_not_what_went_back():
    _, (member,) = funded(100, members=1, monthly_limit=30)
    charged = member_hold_create(membership=member, amount=10)
    hold_capture(hold=charged)
    hold_refund(hold=charged, amount=4)  # 6 charged in the end
    released = member_hold_create(membership=member, amount=10)
    hold_release(hold=released)  # nothing charged
    member_hold_create(membership=member, amount=20)  # 6 + 20 = 26 of 30
    with pytest.raises(SpendingLimitReached) as refused:
        member_hold_create(membership=member, amount=5)
    assert refused.value.code == "INSUFFICIENT_CREDITS"
    assert refused.value.details == {"required": 5, "available": 4, "limit": 30, "spent": 26}
    assert "monthly spending limit" in refused.value.message
    assert ledger_audit() == []


@pytest.mark.postgres
def test_forty_members_holding_ten_from_a_hundred_exactly_ten_succeed():
    account, members = funded(100, members=40)
    results = run_together(40, lambda i: member_hold_create(membership=members[i], amount=10))
    assert outcome(results) == {"Hold": 10, "InsufficientTokens": 30}
    account.refresh_from_db()
    assert (account.balance, account.held) == (100, 100)
    assert Hold.objects.filter(account=account, status=HoldStatus.OPEN).count() == 10
    assert all(not isinstance(r, SpendingLimitReached) for r in results)
    assert ledger_audit() == []


@pytest.mark.postgres
def test_a_member_with_a_limit_of_thirty_firing_ten_parallel_holds_gets_exactly_three():
    account, (member,) = funded(1000, members=1, monthly_limit=30)
    results = run_together(10, lambda i: member_hold_create(membership=member, amount=10))
    assert outcome(results) == {"Hold": 3, "SpendingLimitReached": 7}
    account.refresh_from_db()
    assert (account.balance, account.held) == (1000, 30)
    assert all(isinstance(r, InsufficientTokens) for r in results if not isinstance(r, Hold))
    assert ledger_audit() == []


def test_a_viewer_cannot_spend_the_organizations_credits():
    account, (viewer,) = funded(100, members=1, role=Role.VIEWER)
    with pytest.raises(Forbidden):
        member_hold_create(membership=viewer, amount=10)
    account.refresh_from_db()
    assert (account.balance, account.held) == (100, 0)
    assert not Hold.objects.filter(account=account).exists()
