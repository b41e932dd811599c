"""Webhooks of an organization: its owners and admins manage them (members and viewers get
403, anyone outside 404), and they hear of the organization's jobs, while a member's own
webhooks hear only of the member's own work."""

import pytest
from rest_framework.test import APIClient

from organizations.models import MANAGERS, Membership, Role
from organizations.workspace import Workspace
from studio.models import WebhookDelivery
from studio.services.execution import generation_run
from studio.services.webhooks import webhook_create, webhooks_emit
from tests.conftest import assert_error, login
from tests.organizations.people import ACTORS, assert_access, team
from tests.studio.test_generations import _fast_providers, submit  # noqa: F401 (fixture)
from tests.studio.webhooks.support import COMPLETED, DATA, PUBLIC_URL

pytestmark = pytest.mark.django_db(transaction=True)

HOOKS = "/api/v1/webhooks"
BODY = {"url": PUBLIC_URL, "events": [COMPLETED]}

OPERATIONS = [
    ("get", HOOKS, None, 200),
    ("post", HOOKS, BODY, 201),
    ("get", HOOKS + "/{hook}", None, 200),
    ("post", HOOKS + "/{hook}/deliveries/{delivery}/redeliver", None, 202),
    ("delete", HOOKS + "/{hook}", None, 200),
]


@pytest.fixture
def studio():
    """The team, an organization webhook its owner made and one delivery of it."""
    organization, people = team()
    owner = people[Role.OWNER]
    hook, _ = webhook_create(
        user=owner.user, url=PUBLIC_URL, events=[COMPLETED], workspace=Workspace(owner.user, owner)
    )
    (delivery,) = webhooks_emit(
        user=owner.user, organization_id=organization.pk, event=COMPLETED, data=DATA
    )
    return organization, people, {"hook": hook.pk, "delivery": delivery.pk}


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize(
    ("method", "path", "body", "success"),
    OPERATIONS,
    ids=[f"{m.upper()} {p}" for m, p, *_ in OPERATIONS],
)
def test_the_access_matrix(studio, method, path, body, success, actor):
    organization, people, ids = studio
    api = login(APIClient(), people[actor].user)
    response = getattr(api, method)(
        path.format(**ids), body, format="json", HTTP_X_ORGANIZATION=organization.slug
    )
    assert_access(response, actor, MANAGERS, success)


def test_an_organizations_job_tells_its_webhooks_and_not_the_members_own(studio):
    organization, people, ids = studio
    member = people[Role.MEMBER].user
    own, _ = webhook_create(user=member, url=PUBLIC_URL, events=[COMPLETED])
    api = login(APIClient(), member)

    team_job = submit(api, HTTP_X_ORGANIZATION=organization.slug).json()["id"]
    generation_run(generation_id=team_job)
    told = WebhookDelivery.objects.filter(event=COMPLETED, payload__data__id=team_job)
    assert list(told.values_list("webhook_id", flat=True)) == [ids["hook"]]

    own_job = submit(api).json()["id"]
    generation_run(generation_id=own_job)
    told = WebhookDelivery.objects.filter(event=COMPLETED, payload__data__id=own_job)
    assert list(told.values_list("webhook_id", flat=True)) == [own.pk]


def test_the_limit_is_per_workspace(studio):
    organization, people, _ = studio
    owner = people[Role.OWNER].user
    for _ in range(10):
        webhook_create(user=owner, url=PUBLIC_URL, events=[COMPLETED])
    api = login(APIClient(), owner)
    assert_error(api.post(HOOKS, BODY, format="json"), 400, "INVALID_REQUEST")
    response = api.post(HOOKS, BODY, format="json", HTTP_X_ORGANIZATION=organization.slug)
    assert response.status_code == 201, response.content
    assert Membership.objects.filter(organization=organization, user=owner).exists()
