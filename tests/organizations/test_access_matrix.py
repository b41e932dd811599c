"""Who gets what from every organization-scoped endpoint: each operation the URLconf routes under
/organizations/{slug}, as each role, a removed member and a stranger. A known member lacking the
role gets 403; anyone outside the organization gets 404, never 403 (its existence is not
disclosed). The operations come from the URLconf, so a new endpoint joins the matrix by
itself, and fails here until WHO says who may use it."""

import pytest
from rest_framework.test import APIClient

from organizations.models import MANAGERS, OWNERS, Membership, Role
from organizations.services import invitation_create
from tests.conftest import login
from tests.core.schema.support import api_operations
from tests.factories import UserFactory
from tests.organizations.people import ACTORS, assert_access, team

pytestmark = pytest.mark.django_db

SCOPE = "/api/v1/organizations/{slug}"

EVERYONE = tuple(Role)

# (path under the scope, method): the roles that may use it.
WHO = {
    ("", "get"): EVERYONE,
    ("", "patch"): MANAGERS,
    ("", "delete"): OWNERS,
    ("/members", "get"): EVERYONE,
    ("/members/{user_id}", "patch"): MANAGERS,
    ("/members/{user_id}", "delete"): MANAGERS,
    ("/invitations", "get"): MANAGERS,
    ("/invitations", "post"): MANAGERS,
    ("/invitations/{invitation_id}", "delete"): MANAGERS,
    ("/tokens", "get"): EVERYONE,
    ("/usage", "get"): MANAGERS,
}

# A well-formed request body for the operations that take one.
BODIES = {
    ("", "patch"): {"name": "Renamed"},
    ("/members/{user_id}", "patch"): {"monthlyLimit": 50},
    ("/invitations", "post"): {"email": "newcomer@example.com"},
}

SCOPED = sorted(
    (path.removeprefix(SCOPE), method)
    for path, method in api_operations()
    if path == SCOPE or path.startswith(SCOPE + "/")
)


def test_every_organization_endpoint_says_who_may_use_it():
    assert SCOPED, "no organization-scoped routes found"
    assert set(SCOPED) == set(WHO)


@pytest.fixture
def organization():
    """The team, a member the member endpoints act on, and a pending invitation."""
    organization, people = team()
    people["target"] = Membership.objects.create(
        organization=organization, user=UserFactory(), role=Role.MEMBER
    )
    invitation, _ = invitation_create(by=people[Role.OWNER], email="invited@example.com")
    return organization, people, invitation


def client_as(actor: str, people) -> APIClient:
    return login(APIClient(), people[actor].user)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize(
    ("tail", "method"), SCOPED, ids=[f"{m.upper()} {t or '/'}" for t, m in SCOPED]
)
def test_the_access_matrix(organization, tail, method, actor):
    organization, people, invitation = organization
    path = (SCOPE + tail).format(
        slug=organization.slug, user_id=people["target"].user.pk, invitation_id=invitation.pk
    )
    api = client_as(actor, people)
    response = getattr(api, method)(path, BODIES.get((tail, method)), format="json")
    assert_access(response, actor, WHO[(tail, method)], 201 if method == "post" else 200)
