"""Managing members: owners and admins change roles and limits and remove people; only an
owner touches an owner; the organization always keeps one owner."""

import pytest

from core.exceptions import Forbidden, NotFound
from organizations.models import Membership, Role
from organizations.services import LastOwner, member_remove, member_update, organization_create
from tests.factories import UserFactory
from tests.tokens.test_concurrency import outcome, run_together

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    organization = organization_create(user=UserFactory(), name="Studio North")
    owner = organization.memberships.get()

    def join(role):
        return Membership.objects.create(organization=organization, user=UserFactory(), role=role)

    return owner, join(Role.ADMIN), join(Role.MEMBER), join(Role.VIEWER)


def test_an_admin_changes_a_members_role_and_limit(team):
    _, admin, member, _ = team
    changed = member_update(by=admin, target=member, role=Role.VIEWER, monthly_limit=40)
    assert (changed.role, changed.monthly_limit) == (Role.VIEWER, 40)
    member.refresh_from_db()
    assert (member.role, member.monthly_limit) == (Role.VIEWER, 40)
    assert member_update(by=admin, target=member, monthly_limit=None).monthly_limit is None
    assert Membership.objects.get(pk=member.pk).role == Role.VIEWER  # left out: unchanged


def test_members_and_viewers_manage_nobody_and_admins_touch_no_owner(team):
    owner, admin, member, viewer = team
    for by in (member, viewer):
        with pytest.raises(Forbidden):
            member_update(by=by, target=admin, role=Role.MEMBER)
        with pytest.raises(Forbidden):
            member_remove(by=by, target=admin)
    with pytest.raises(Forbidden):
        member_update(by=admin, target=owner, role=Role.MEMBER)
    with pytest.raises(Forbidden):
        member_update(by=admin, target=member, role=Role.OWNER)
    with pytest.raises(Forbidden):
        member_remove(by=admin, target=owner)
    assert Membership.objects.get(pk=owner.pk).role == Role.OWNER


def test_the_last_owner_cannot_be_demoted_or_leave_but_one_of_two_can(team):
    owner, admin, _, _ = team
    with pytest.raises(LastOwner):
        member_update(by=owner, target=owner, role=Role.ADMIN)
    with pytest.raises(LastOwner):
        member_remove(by=owner, target=owner)
    member_update(by=owner, target=admin, role=Role.OWNER)
    member_remove(by=owner, target=owner)  # the other owner stays
    assert list(Membership.objects.filter(role=Role.OWNER)) == [Membership.objects.get(pk=admin.pk)]


def test_a_member_can_leave_and_a_removed_member_is_gone(team):
    _, admin, member, viewer = team
    member_remove(by=viewer, target=viewer)
    member_remove(by=admin, target=member)
    assert not Membership.objects.filter(pk__in=[member.pk, viewer.pk]).exists()


def test_someone_from_another_organization_is_not_found(team):
    owner, *_ = team
    other = organization_create(user=UserFactory(), name="Elsewhere").memberships.get()
    with pytest.raises(NotFound):
        member_update(by=other, target=owner, role=Role.MEMBER)
    with pytest.raises(NotFound):
        member_remove(by=other, target=owner)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner():
    organization = organization_create(user=UserFactory(), name="Studio North")
    first = organization.memberships.get()
    second = Membership.objects.create(
        organization=organization, user=UserFactory(), role=Role.OWNER
    )
    pairs = [(first, second), (second, first)]
    results = run_together(
        2, lambda i: member_update(by=pairs[i][0], target=pairs[i][1], role=Role.ADMIN)
    )
    assert outcome(results) == {"Membership": 1, "LastOwner": 1}
    assert Membership.objects.filter(organization=organization, role=Role.OWNER).count() == 1
