"""Workspaces: where work is made and paid for, the user's own account or one of their
organizations.

A request names its workspace with an `organization` field (a slug) in its body or query, or
the `X-Organization: <slug>` header; pages keep the one chosen in the session. Without one it is
the user's own. An organization the user is not a member of is a 404, as everywhere.
"""

from dataclasses import dataclass

from django.db.models import Q
from rest_framework import serializers

from core.exceptions import Forbidden, NotFound
from organizations.models import MANAGERS, SPENDERS, Membership, Organization
from organizations.selectors import membership_for, month_start
from organizations.services import member_hold_create, member_spent, require
from tokens.models import Hold, TokenAccount
from tokens.services import account_for_user, hold_create

HEADER = "X-Organization"
SESSION_KEY = "workspace"


@dataclass(frozen=True)
class Workspace:
    user: object
    membership: Membership | None = None

    @property
    def organization(self) -> Organization | None:
        return self.membership.organization if self.membership else None

    @property
    def slug(self) -> str:
        return self.membership.organization.slug if self.membership else ""

    def rows(self, owner: str = "user") -> Q:
        """The rows (of a model with `organization` and an `owner` user field) that belong to
        this workspace: the organization's, or the user's own outside any organization."""
        organization_id = self.membership.organization_id if self.membership else None
        return rows_of(user=self.user, organization_id=organization_id, owner=owner)

    def require(self, roles: tuple[str, ...], message: str) -> None:
        """Forbidden unless the user's role here is one of `roles` (in their own workspace
        they may do anything)."""
        if self.membership:
            require(self.membership, roles, message)

    def require_maker(self) -> None:
        """Forbidden for viewers: they see an organization's work but make none."""
        self.require(SPENDERS, "Viewers can see this organization's work but not add to it")

    def account(self) -> TokenAccount:
        if self.membership:
            return TokenAccount.objects.get(organization_id=self.membership.organization_id)
        return account_for_user(user=self.user)

    def spendable(self) -> int:
        """What the user may spend here now: the account's available credits, within what is
        left of their monthly limit in an organization (none for a viewer). The hold decides;
        this is for telling them beforehand."""
        available = self.account().available
        if not self.membership:
            return available
        if self.membership.role not in SPENDERS:
            return 0
        limit = self.membership.monthly_limit
        if limit is None:
            return available
        left = limit - member_spent(membership=self.membership, since=month_start())
        return max(min(available, left), 0)

    def hold(self, *, amount: int, **hold) -> Hold:
        """A hold for work done here: on the organization's account within the member's
        limit (viewers refused), or on the user's own."""
        if self.membership:
            return member_hold_create(membership=self.membership, amount=amount, **hold)
        return hold_create(account=account_for_user(user=self.user), amount=amount, **hold)


def rows_of(*, user, organization_id, owner: str = "user") -> Q:
    """The rows of the workspace that `user` works in with `organization_id` (None: their
    own), e.g. a run's, whose steps use what is there without looking the membership up."""
    if organization_id:
        return Q(organization_id=organization_id)
    return Q(**{owner: user, "organization__isnull": True})


def workspace_for(*, user, slug: str | None = None) -> Workspace:
    if not slug:
        return Workspace(user)
    return Workspace(user, membership_for(user=user, slug=slug))


def workspace_of(*, user, row) -> Workspace:
    """Where `row` (a job or run) was made, for more work there: its organization's workspace
    (NotFound once `user` no longer belongs to it), or the user's own."""
    return workspace_for(user=user, slug=row.organization.slug if row.organization_id else None)


def request_workspace(request, named: str | None = None) -> Workspace:
    """The workspace a request names: `named` (its body's or query's `organization`), else the
    X-Organization header; else the user's own."""
    slug = named or request.headers.get(HEADER, "").strip()
    return workspace_for(user=request.user, slug=slug or None)


def visible_to(user, owner: str = "user") -> Q:
    """What `user` may see of a model with `organization` and an `owner` user field: their own
    rows outside any organization, and every row of the organizations they belong to."""
    return Q(**{owner: user, "organization__isnull": True}) | Q(
        organization__memberships__user=user
    )


def may_change(user, row, owner: str = "user") -> bool:
    """Whether `user` may change (cancel, delete, star, edit) a row they can see: their own, or
    one of an organization they manage."""
    if getattr(row, f"{owner}_id") == user.pk:
        return True
    if row.organization_id is None:
        return False
    return Membership.objects.filter(
        organization_id=row.organization_id, user=user, role__in=MANAGERS
    ).exists()


def require_change(user, row, owner: str = "user"):
    """`row` (one `user` can see), or Forbidden unless they may change it (may_change)."""
    if not may_change(user, row, owner):
        raise Forbidden("Only whoever made it and the organization's owners and admins can")
    return row


class WorkspaceFields(serializers.Serializer):
    """The `organization` field of the bodies that create work."""

    organization = serializers.SlugField(
        max_length=50,
        required=False,
        allow_null=True,
        help_text="Make and pay for it in this organization (its slug) instead of your own "
        "account; the X-Organization header does the same.",
    )


def session_workspace(request) -> Workspace:
    """The workspace a signed-in person chose in the header (kept in the session): their own
    until they choose, and again at once if they no longer belong to the one they chose."""
    slug = request.session.get(SESSION_KEY) or None
    if slug:
        try:
            return workspace_for(user=request.user, slug=slug)
        except NotFound:
            request.session.pop(SESSION_KEY, None)
    return Workspace(request.user)


class WorkspaceQuery(serializers.Serializer):
    """The `organization` query field of the lists that filter by workspace."""

    organization = serializers.SlugField(
        max_length=50,
        required=False,
        help_text="This organization's (its slug) instead of your own; the X-Organization "
        "header does the same.",
    )
