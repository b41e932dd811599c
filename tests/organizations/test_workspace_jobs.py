"""Work made in an organization's workspace: named by the X-Organization header or the
`organization` field, held and charged on the organization's account with the member recorded,
listed for its members only, refused for viewers, past a member's limit and for strangers."""

import pytest
from rest_framework.test import APIClient

from organizations.models import Membership, Role
from organizations.services import account_for_organization, organization_create
from studio.models import Generation, Status
from studio.services.execution import generation_run
from tests.conftest import assert_error, login
from tests.factories import UserFactory
from tests.studio.test_generations import _fast_providers, submit  # noqa: F401 (fixture)
from tokens.audit import ledger_audit
from tokens.models import EntryKind, Hold, LedgerEntry
from tokens.services import tokens_grant

pytestmark = pytest.mark.django_db(transaction=True)

LIST = "/api/v1/users/generations"


@pytest.fixture
def team():
    owner = UserFactory(credits=0)
    organization = organization_create(user=owner, name="Studio North")
    account = account_for_organization(organization=organization)
    tokens_grant(account=account, amount=100)

    def join(role, **fields):
        user = UserFactory(credits=50)
        Membership.objects.create(organization=organization, user=user, role=role, **fields)
        return user, login(APIClient(), user)

    return organization, account, join


def test_a_members_job_is_paid_by_the_organization_and_names_the_member(team):
    organization, account, join = team
    member, api = join(Role.MEMBER)
    response = submit(api, model="flux-pro", HTTP_X_ORGANIZATION=organization.slug)
    assert response.status_code == 202, response.content
    generation = Generation.objects.get(pk=response.json()["id"])
    assert generation.organization == organization and generation.user == member
    hold = Hold.objects.get(pk=generation.hold_id)
    assert (hold.account_id, hold.member_id, hold.amount) == (account.pk, member.pk, 4)
    generation_run(generation_id=generation.pk)
    account.refresh_from_db()
    member.token_account.refresh_from_db()
    assert (account.balance, account.held) == (96, 0)
    assert member.token_account.balance == 50  # their own credits are untouched
    capture = LedgerEntry.objects.get(account=account, kind=EntryKind.CAPTURE)
    assert capture.hold.member == member and capture.amount == -4
    assert ledger_audit() == []
    # The body's field does the same as the header.
    again = submit(api, model="flux-pro", organization=organization.slug)
    assert Generation.objects.get(pk=again.json()["id"]).organization == organization


def test_the_organizations_jobs_are_listed_for_its_members_and_nobody_else(team):
    organization, _, join = team
    _, member_api = join(Role.MEMBER)
    _, viewer_api = join(Role.VIEWER)
    made = submit(member_api, HTTP_X_ORGANIZATION=organization.slug).json()["id"]
    own = submit(member_api).json()["id"]

    def listed(api, **query):
        response = api.get(LIST, query)
        assert response.status_code == 200, response.content
        return [g["id"] for g in response.json()["generations"]]

    assert listed(viewer_api, organization=organization.slug) == [made]
    assert listed(member_api) == [own]  # their own workspace, without the organization's
    assert listed(member_api, organization=organization.slug) == [made]
    assert viewer_api.get(f"/api/v1/studio/generation/{made}").status_code == 200
    stranger = login(APIClient(), UserFactory())
    assert_error(stranger.get(LIST, {"organization": organization.slug}), 404, "NOT_FOUND")
    assert_error(stranger.get(f"/api/v1/studio/generation/{made}"), 404, "NOT_FOUND")
    assert_error(viewer_api.get(f"/api/v1/studio/generation/{own}"), 404, "NOT_FOUND")


def test_a_removed_member_no_longer_sees_what_they_made_there(team):
    organization, _, join = team
    member, api = join(Role.MEMBER)
    made = submit(api, HTTP_X_ORGANIZATION=organization.slug).json()["id"]
    Membership.objects.filter(user=member).delete()
    assert_error(api.get(f"/api/v1/studio/generation/{made}"), 404, "NOT_FOUND")
    assert_error(submit(api, HTTP_X_ORGANIZATION=organization.slug), 404, "NOT_FOUND")


def test_viewers_strangers_and_members_past_their_limit_start_nothing(team):
    organization, account, join = team
    _, viewer_api = join(Role.VIEWER)
    _, limited_api = join(Role.MEMBER, monthly_limit=5)
    stranger = login(APIClient(), UserFactory(credits=50))
    entries = LedgerEntry.objects.count()
    assert_error(submit(viewer_api, HTTP_X_ORGANIZATION=organization.slug), 403, "FORBIDDEN")
    assert_error(submit(stranger, organization=organization.slug), 404, "NOT_FOUND")
    assert submit(limited_api, model="flux-pro", organization=organization.slug).status_code == 202
    refused = submit(limited_api, model="flux-pro", organization=organization.slug)
    body = assert_error(refused, 403, "INSUFFICIENT_CREDITS")
    assert (body["details"]["limit"], body["details"]["spent"]) == (5, 4)
    assert Generation.objects.count() == 1 and LedgerEntry.objects.count() == entries + 1
    account.refresh_from_db()
    assert account.held == 4


def test_only_whoever_made_it_and_the_managers_cancel_an_organizations_job(team):
    organization, account, join = team
    _, maker = join(Role.MEMBER)
    _, colleague = join(Role.MEMBER)
    _, admin = join(Role.ADMIN)
    made = submit(maker, HTTP_X_ORGANIZATION=organization.slug).json()["id"]
    cancel = f"/api/v1/studio/generation/{made}/cancel"
    assert_error(colleague.post(cancel), 403, "FORBIDDEN")
    assert admin.post(cancel).status_code == 200
    assert Generation.objects.get(pk=made).status == Status.CANCELLED
    account.refresh_from_db()
    assert (account.balance, account.held) == (100, 0)
