"""An organization with one person of each kind, for the tests that ask "who gets what"."""

from organizations.models import Membership, Role
from organizations.services import account_for_organization, member_remove, organization_create
from tests.conftest import assert_error
from tests.factories import UserFactory
from tokens.services import tokens_grant

# Everyone a workspace-scoped request can come from: each role, a removed member, a stranger.
ACTORS = [*Role, "removed", "stranger"]


def team(*, name: str = "Studio North", credits: int = 100):
    """(organization, memberships): a membership for each role, "removed" (a member who was
    removed, so their row is gone and `.user` is what is left) and "stranger" (a user who never
    belonged; only `.user` is set). The organization's account holds `credits`."""
    owner = UserFactory()
    organization = organization_create(user=owner, name=name)
    tokens_grant(account=account_for_organization(organization=organization), amount=credits)
    people = {Role.OWNER: Membership.objects.get(organization=organization, user=owner)}
    for role in (Role.ADMIN, Role.MEMBER, Role.VIEWER, "removed"):
        people[role] = Membership.objects.create(
            organization=organization,
            user=UserFactory(),
            role=Role.MEMBER if role == "removed" else role,
        )
    member_remove(by=people[Role.OWNER], target=people["removed"])
    people["stranger"] = Membership(organization=organization, user=UserFactory())
    return organization, people


def assert_access(response, actor: str, who: tuple[str, ...], success: int) -> None:
    """The answer an access matrix expects: 404 from outside (a removed member or a stranger:
    the organization's things are not disclosed), `success` for the roles in `who`, 403 for
    a known member lacking the role."""
    if actor in ("removed", "stranger"):
        assert_error(response, 404, "NOT_FOUND")
    elif actor in who:
        assert response.status_code == success, response.content
    else:
        assert_error(response, 403, "FORBIDDEN")
