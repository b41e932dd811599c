"""Work a member started in an organization and left running when they were removed: they no
longer reach it, but support can still cancel it for them and deleting their account still
stops it, each giving the organization its credits back."""

import pytest
from rest_framework.test import APIClient

from accounts.services_delete import account_delete
from organizations.models import Role
from organizations.services import member_remove
from studio.models import Generation, Status
from support.services import job_cancel
from tests.conftest import assert_error, login
from tests.factories import PASSWORD, UserFactory
from tests.organizations.people import team
from tests.studio.test_generations import _fast_providers, submit  # noqa: F401 (fixture)
from tokens.audit import ledger_audit
from tokens.models import HoldStatus, TokenAccount

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def left_running():
    """A member's queued job paid by the organization, and the member removed since."""
    organization, people = team()
    member = people[Role.MEMBER].user
    response = submit(login(APIClient(), member), HTTP_X_ORGANIZATION=organization.slug)
    assert response.status_code == 202, response.content
    generation = Generation.objects.get(pk=response.json()["id"])
    member_remove(by=people[Role.OWNER], target=people[Role.MEMBER])
    return organization, member, generation


def held(organization) -> int:
    return TokenAccount.objects.get(organization=organization).held


def test_the_removed_member_no_longer_reaches_it(left_running):
    organization, member, generation = left_running
    api = login(APIClient(), member)
    assert_error(api.get(f"/api/v1/studio/generation/{generation.pk}"), 404, "NOT_FOUND")
    response = api.post(f"/api/v1/studio/generation/{generation.pk}/cancel")
    assert_error(response, 404, "NOT_FOUND")
    assert held(organization) == generation.cost


def test_support_cancels_it_and_the_organization_gets_its_credits_back(left_running):
    organization, _member, generation = left_running
    job_cancel(actor=UserFactory(is_staff=True), job=generation, reason="They left the team")
    generation.refresh_from_db()
    assert generation.status == Status.CANCELLED
    assert generation.hold.status == HoldStatus.RELEASED
    assert held(organization) == 0
    assert ledger_audit() == []


def test_deleting_their_account_stops_it_first(left_running):
    organization, member, _generation = left_running
    result = account_delete(user=member, password=PASSWORD)
    assert result.cancelled["generations"] == 1
    assert held(organization) == 0
    assert ledger_audit() == []
