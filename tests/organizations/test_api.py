"""The organization endpoints as a client uses them: create and list, rename and close, members
and their limits, invitations from sending to joining, the ledger with the member on each
charge, and usage by member and operation."""

import pytest
from rest_framework.test import APIClient

from organizations.models import Membership, Organization, Role
from organizations.services import (
    SpendingLimitReached,
    account_for_organization,
    member_hold_create,
)
from tests.conftest import assert_error, login
from tests.factories import UserFactory
from tokens.services import hold_capture, hold_refund, tokens_grant

pytestmark = pytest.mark.django_db

ORGS = "/api/v1/users/organizations"


def client_for(user) -> APIClient:
    return login(APIClient(), user)


@pytest.fixture
def owner():
    return UserFactory(email="olive@example.com", name="Olive")


@pytest.fixture
def team(owner):
    """Studio North with credits, its owner's client, and a member and a viewer."""
    api = client_for(owner)
    response = api.post(ORGS, {"name": "Studio North"}, format="json")
    assert response.status_code == 201, response.content
    organization = Organization.objects.get(slug="studio-north")
    tokens_grant(account=account_for_organization(organization=organization), amount=100)
    member = Membership.objects.create(
        organization=organization, user=UserFactory(name="Max"), role=Role.MEMBER
    )
    viewer = Membership.objects.create(
        organization=organization, user=UserFactory(name="Vic"), role=Role.VIEWER
    )
    return api, organization, member, viewer


def url(organization, tail: str = "") -> str:
    return f"/api/v1/organizations/{organization.slug}{tail}"


def test_creating_an_organization_makes_you_its_owner_and_lists_it(owner, team):
    api = team[0]
    listed = api.get(ORGS).json()
    assert listed["organizations"] == [
        {
            "slug": "studio-north",
            "name": "Studio North",
            "role": "owner",
            "memberCount": 3,
            "createdAt": listed["organizations"][0]["createdAt"],
        }
    ]
    assert listed["pagination"]["total"] == 1
    # The same name again gets the next free address; a slug asked for must be free.
    again = api.post(ORGS, {"name": "Studio North"}, format="json")
    assert again.status_code == 201 and again.json()["slug"] == "studio-north-2"
    taken = api.post(ORGS, {"name": "Other", "slug": "studio-north"}, format="json")
    assert_error(taken, 409, "SLUG_TAKEN")
    assert Organization.objects.count() == 2
    # Someone else's list does not show it.
    assert client_for(UserFactory()).get(ORGS).json()["organizations"] == []


def test_a_name_without_letters_still_gets_an_address(owner):
    response = client_for(owner).post(ORGS, {"name": "日本"}, format="json")
    assert response.status_code == 201 and response.json()["slug"] == "team"


def test_renaming_is_for_owners_and_admins_and_a_member_is_told_why(team):
    api, organization, member, _ = team
    renamed = api.patch(url(organization), {"name": "Studio South"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "Studio South"
    refused = client_for(member.user).patch(url(organization), {"name": "Mine"}, format="json")
    assert_error(refused, 403, "FORBIDDEN")
    assert Organization.objects.get(pk=organization.pk).name == "Studio South"


def test_closing_waits_for_running_work_then_ends_every_membership(team):
    api, organization, member, _ = team
    hold = member_hold_create(membership=member, amount=10, operation="image_generation")
    assert_error(api.delete(url(organization)), 409, "CONFLICT", field="held")
    hold_capture(hold=hold)
    assert api.delete(url(organization)).json() == {"message": "Organization closed"}
    assert not Membership.objects.filter(organization=organization).exists()
    assert_error(api.get(url(organization)), 404, "NOT_FOUND")
    assert api.get(ORGS).json()["organizations"] == []
    # The account and its ledger stay for the audit.
    assert account_for_organization(organization=organization).balance == 90


def test_members_show_roles_limits_and_what_each_spent_this_month(team):
    api, organization, member, viewer = team
    hold_capture(hold=member_hold_create(membership=member, amount=12, operation="upscale"))
    body = api.get(url(organization, "/members")).json()
    rows = {row["name"]: row for row in body["members"]}
    assert set(rows) == {"Olive", "Max", "Vic"}
    assert rows["Max"]["spentThisMonth"] == 12 and rows["Vic"]["spentThisMonth"] == 0
    assert (rows["Vic"]["role"], rows["Vic"]["monthlyLimit"]) == ("viewer", None)
    # A viewer sees the people too.
    assert client_for(viewer.user).get(url(organization, "/members")).status_code == 200


def test_an_admin_sets_a_limit_and_the_member_is_held_to_it(team):
    api, organization, member, _ = team
    path = url(organization, f"/members/{member.user.pk}")
    changed = api.patch(path, {"monthlyLimit": 15}, format="json")
    assert changed.status_code == 200 and changed.json()["monthlyLimit"] == 15
    member_hold_create(membership=member, amount=10)
    with pytest.raises(SpendingLimitReached) as refused:
        member_hold_create(membership=member, amount=10)
    assert refused.value.details["limit"] == 15
    cleared = api.patch(path, {"monthlyLimit": None}, format="json")
    assert cleared.json()["monthlyLimit"] is None
    assert_error(api.patch(path, {}, format="json"), 400, "INVALID_REQUEST")
    assert_error(api.patch(path, {"role": "boss"}, format="json"), 400, "INVALID_REQUEST")


def test_a_removed_member_loses_access_at_once(team):
    api, organization, member, _ = team
    theirs = client_for(member.user)
    assert theirs.get(url(organization, "/tokens")).status_code == 200
    removed = api.delete(url(organization, f"/members/{member.user.pk}"))
    assert removed.json() == {"message": "Member removed"}
    for tail in ("", "/members", "/tokens"):
        assert_error(theirs.get(url(organization, tail)), 404, "NOT_FOUND")


def test_a_member_can_leave_but_the_last_owner_cannot(owner, team):
    api, organization, member, _ = team
    left = client_for(member.user).delete(url(organization, f"/members/{member.user.pk}"))
    assert left.json() == {"message": "You left the organization"}
    assert_error(api.delete(url(organization, f"/members/{owner.pk}")), 409, "LAST_OWNER")
    for missing in ("not-a-uuid", str(member.user.pk)):
        assert_error(api.delete(url(organization, f"/members/{missing}")), 404, "NOT_FOUND")


def test_an_invitation_from_sending_to_joining(team):
    api, organization, _, _ = team
    sent = api.post(
        url(organization, "/invitations"),
        {"email": "Nia@Example.com", "role": "admin"},
        format="json",
    )
    assert sent.status_code == 201, sent.content
    invitation = sent.json()
    assert invitation["email"] == "nia@example.com" and invitation["role"] == "admin"
    assert invitation["acceptUrl"].endswith(f"/invitations/{invitation['token']}/")
    listed = api.get(url(organization, "/invitations")).json()["invitations"]
    assert [i["id"] for i in listed] == [invitation["id"]] and "token" not in listed[0]

    accept = f"/api/v1/invitations/{invitation['token']}/accept"
    stranger = client_for(UserFactory(email="someone@example.com"))
    body = assert_error(stranger.post(accept), 409, "INVITATION_INVALID")
    assert body["details"]["reason"] == "wrong_email"
    nia = client_for(UserFactory(email="nia@example.com"))
    joined = nia.post(accept)
    assert joined.status_code == 200 and joined.json()["role"] == "admin"
    assert nia.get(url(organization)).json()["role"] == "admin"
    used = assert_error(nia.post(accept), 409, "INVITATION_INVALID")
    assert used["details"]["reason"] == "used"
    assert api.get(url(organization, "/invitations")).json()["invitations"] == []
    # Inviting a member again is refused; an unknown token is not found.
    again = api.post(url(organization, "/invitations"), {"email": "nia@example.com"}, format="json")
    assert_error(again, 409, "ALREADY_MEMBER")
    assert_error(nia.post("/api/v1/invitations/nope/accept"), 404, "NOT_FOUND")


def test_a_revoked_or_replaced_invitation_no_longer_works(team):
    api, organization, _, _ = team
    first = api.post(url(organization, "/invitations"), {"email": "ray@example.com"}, format="json")
    second = api.post(
        url(organization, "/invitations"), {"email": "ray@example.com"}, format="json"
    )
    ray = client_for(UserFactory(email="ray@example.com"))
    replaced = ray.post(f"/api/v1/invitations/{first.json()['token']}/accept")
    assert assert_error(replaced, 409, "INVITATION_INVALID")["details"]["reason"] == "revoked"
    revoke = url(organization, f"/invitations/{second.json()['id']}")
    assert api.delete(revoke).json() == {"message": "Invitation revoked"}
    assert_error(api.delete(revoke), 409, "INVITATION_INVALID")
    refused = ray.post(f"/api/v1/invitations/{second.json()['token']}/accept")
    assert assert_error(refused, 409, "INVITATION_INVALID")["details"]["reason"] == "revoked"
    assert not Membership.objects.filter(user__email="ray@example.com").exists()


def test_the_ledger_names_the_member_on_each_charge(team):
    api, organization, member, _ = team
    hold = member_hold_create(membership=member, amount=10, operation="image_generation:flux")
    hold_capture(hold=hold)
    body = api.get(url(organization, "/tokens")).json()
    assert (body["balance"], body["held"], body["available"]) == (90, 0, 90)
    capture = next(e for e in body["history"] if e["kind"] == "capture")
    assert capture["member"] == {
        "id": str(member.user.pk),
        "email": member.user.email,
        "name": "Max",
    }
    grant = next(e for e in body["history"] if e["kind"] == "grant")
    assert grant["member"] is None
    only = api.get(url(organization, "/tokens?kind=capture")).json()["history"]
    assert [e["kind"] for e in only] == ["capture"]


def test_usage_adds_up_by_member_and_operation_less_refunds(owner, team):
    api, organization, member, _ = team
    mine = Membership.objects.get(organization=organization, user=owner)
    hold_capture(hold=member_hold_create(membership=member, amount=10, operation="upscale"))
    refunded = hold_capture(
        hold=member_hold_create(membership=member, amount=8, operation="image_generation:flux")
    )
    hold_refund(hold=refunded, amount=3, memo="Blurry")
    hold_capture(hold=member_hold_create(membership=mine, amount=4, operation="image_generation"))
    body = api.get(url(organization, "/usage")).json()
    assert body["total"] == 19
    assert [(r["member"]["name"], r["credits"]) for r in body["byMember"]] == [
        ("Max", 15),
        ("Olive", 4),
    ]
    assert [(r["operation"], r["credits"]) for r in body["byOperation"]] == [
        ("upscale", 10),
        ("image_generation", 9),
    ]
    assert_error(client_for(member.user).get(url(organization, "/usage")), 403, "FORBIDDEN")
