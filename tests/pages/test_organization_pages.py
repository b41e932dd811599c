"""The organization settings page's own forms: rename, and close (typed confirmation), each
through the services the API uses and refused next to the form when they say no."""

import pytest

from organizations.models import Membership, Organization, Role
from tests.organizations.people import team
from tokens.models import TokenAccount
from tokens.services import hold_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def studio():
    return team()


def page_as(client, people, role):
    client.force_login(people[role].user)
    return client


def url(organization):
    return f"/organizations/{organization.slug}/"


def test_a_manager_renames_the_organization_and_its_address_stays(client, studio):
    organization, people = studio
    response = page_as(client, people, Role.ADMIN).post(
        url(organization), {"action": "rename", "name": "Studio South"}, follow=True
    )
    assert response.redirect_chain[-1][0] == url(organization)
    assert "The organization is now called Studio South." in response.content.decode()
    assert Organization.objects.get(pk=organization.pk).name == "Studio South"


def test_an_empty_name_is_refused_next_to_its_field(client, studio):
    organization, people = studio
    response = page_as(client, people, Role.OWNER).post(
        url(organization), {"action": "rename", "name": ""}
    )
    assert response.status_code == 200
    assert 'id="id_name_error"' in response.content.decode()
    assert Organization.objects.get(pk=organization.pk).name == "Studio North"


def test_members_see_neither_form_and_cannot_post_them(client, studio):
    organization, people = studio
    member = page_as(client, people, Role.MEMBER)
    body = member.get(url(organization)).content.decode()
    assert 'value="rename"' not in body and 'value="close"' not in body
    response = member.post(
        url(organization), {"action": "close", "confirm": organization.slug}, follow=True
    )
    assert response.redirect_chain[-1][0] == url(organization)
    assert "Only an owner can close the organization" in response.content.decode()
    assert Organization.objects.get(pk=organization.pk).closed_at is None


def test_an_admin_sees_rename_but_not_close(client, studio):
    organization, people = studio
    body = page_as(client, people, Role.ADMIN).get(url(organization)).content.decode()
    assert 'value="rename"' in body and 'value="close"' not in body


def test_closing_needs_the_address_typed(client, studio):
    organization, people = studio
    response = page_as(client, people, Role.OWNER).post(
        url(organization), {"action": "close", "confirm": "studio"}
    )
    assert f"Type {organization.slug} to confirm." in response.content.decode()
    assert Organization.objects.get(pk=organization.pk).closed_at is None


def test_closing_while_work_is_held_is_refused_with_the_reason(client, studio):
    organization, people = studio
    hold_create(
        account=TokenAccount.objects.get(organization=organization),
        amount=10,
        idempotency_key="running",
    )
    response = page_as(client, people, Role.OWNER).post(
        url(organization), {"action": "close", "confirm": organization.slug}
    )
    assert "still running" in response.content.decode()
    assert Organization.objects.get(pk=organization.pk).closed_at is None


def test_closing_ends_every_membership_and_leaves_the_workspace(client, studio):
    organization, people = studio
    owner = page_as(client, people, Role.OWNER)
    owner.post("/workspace/", {"organization": organization.slug})
    assert owner.session["workspace"] == organization.slug
    response = owner.post(
        url(organization), {"action": "close", "confirm": organization.slug}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/studio/"
    assert f"{organization.name} is closed." in response.content.decode()
    assert not Membership.objects.filter(organization=organization).exists()
    assert "workspace" not in owner.session
    assert owner.get(url(organization)).status_code == 404


def test_pages_of_an_organization_or_invitation_one_cannot_reach_are_404_pages(client, studio):
    organization, people = studio
    for actor in ("removed", "stranger"):
        visitor = page_as(client, people, actor)
        assert visitor.get(url(organization)).status_code == 404
        assert visitor.post("/workspace/", {"organization": organization.slug}).status_code == 404
    assert client.get("/invitations/not-a-token/").status_code == 404


def test_pages_name_the_workspace_and_the_account_page_stays_personal(client, studio):
    organization, people = studio
    member = page_as(client, people, Role.VIEWER)
    member.post("/workspace/", {"organization": organization.slug})
    meta = f'<meta name="cf-workspace" content="{organization.slug}">'
    for path in ("/studio/", "/gallery/", "/assets/", "/projects/", "/dashboard/"):
        body = member.get(path).content.decode()
        assert meta in body, path
        assert f'data-workspace-note="{organization.slug}"' in body, path
        assert "You are a viewer" in body, path
    # The account page is about one's own account: its API calls (webhooks) are personal.
    assert meta not in member.get("/account/").content.decode()


def test_the_dashboard_of_an_organization_shows_its_account_and_the_members_limit(client, studio):
    organization, people = studio
    membership = people[Role.MEMBER]
    membership.monthly_limit = 30
    membership.save(update_fields=["monthly_limit"])
    hold_create(
        account=TokenAccount.objects.get(organization=organization),
        amount=7,
        idempotency_key="theirs",
        member=membership.user,
    )
    member = page_as(client, people, Role.MEMBER)
    personal = member.get("/dashboard/").content.decode()
    assert "You spent this month" not in personal
    member.post("/workspace/", {"organization": organization.slug})
    body = member.get("/dashboard/").content.decode()
    assert '<div class="stat-value" data-stat="available">93</div>' in body
    assert '<div class="stat-value" data-stat="member-spent">7</div>' in body
    assert "of your limit of 30 credits" in body
    assert '<th scope="col">Member</th>' in body
