"""Organizations: creating one, its shared account, holds that members take from it (each
within the member's monthly limit), and invitations.

The limit is checked under the membership row's lock, in the transaction that takes the hold:
a member's holds take turns there, so parallel jobs cannot overshoot it, while different
members' holds only meet on the account row, as any two holds do.
"""

import hashlib
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Sum, When
from django.utils import timezone
from django.utils.text import slugify

from core.exceptions import Conflict, Forbidden, NotFound
from organizations.models import (
    MANAGERS,
    OWNERS,
    SPENDERS,
    Invitation,
    Membership,
    Organization,
    Role,
)
from tokens.exceptions import InsufficientTokens
from tokens.models import Hold, HoldStatus, TokenAccount
from tokens.services import hold_create
from tokens.services._core import month_bounds


class SpendingLimitReached(InsufficientTokens):
    message = "This would take you past your monthly spending limit in this organization"


class SlugTaken(Conflict):
    code = "SLUG_TAKEN"
    message = "Another organization already uses this address"


def require(membership: Membership, roles: tuple[str, ...], message: str) -> None:
    """Forbidden unless `membership`'s role is one of `roles`: the one place roles are checked
    (a stranger never gets this far: they get 404 looking the organization up)."""
    if membership.role not in roles:
        raise Forbidden(message, role=membership.role)


def organization_create(*, user, name: str, slug: str = "") -> Organization:
    """A new organization with `user` as its owner and an empty account of its own. A slug
    asked for must be free (SlugTaken); without one it comes from the name, made unique."""
    base = slug or slugify(name)[:40] or "team"
    for attempt in range(1, 50):
        candidate = base if attempt == 1 else f"{base[:40]}-{attempt}"
        try:
            with transaction.atomic():
                organization = Organization.objects.create(
                    name=name, slug=candidate, created_by=user
                )
                Membership.objects.create(organization=organization, user=user, role=Role.OWNER)
                start, end = month_bounds(timezone.now())
                TokenAccount.objects.create(
                    organization=organization, period_start=start, period_end=end
                )
            return organization
        except IntegrityError:
            if slug:
                raise SlugTaken(slug=slug) from None
    raise SlugTaken(slug=base)


def organization_update(*, by: Membership, name: str) -> Organization:
    require(by, MANAGERS, "Only the organization's owners and admins can rename it")
    organization = by.organization
    organization.name = name
    organization.save(update_fields=["name"])
    return organization


def organization_close(*, by: Membership) -> None:
    """Close the organization: every membership ends and pending invitations are revoked; the
    organization's row and account stay, so its ledger stays whole. Refused while work it pays
    for is running."""
    require(by, OWNERS, "Only an owner can close the organization")
    with transaction.atomic():
        account = TokenAccount.objects.select_for_update().get(organization_id=by.organization_id)
        if account.held:
            raise Conflict(
                "Work paid by this organization is still running; wait for it or cancel it",
                held=account.held,
            )
        now = timezone.now()
        Organization.objects.filter(pk=by.organization_id).update(closed_at=now)
        Invitation.objects.filter(
            organization_id=by.organization_id, accepted_at=None, revoked_at=None
        ).update(revoked_at=now)
        Membership.objects.filter(organization_id=by.organization_id).delete()


def account_for_organization(*, organization: Organization) -> TokenAccount:
    return TokenAccount.objects.get(organization=organization)


def member_spent(*, membership: Membership, since) -> int:
    """What the member has spent from the organization since `since`: what open holds reserve
    and what resolved ones charged, less refunds."""
    spent = Hold.objects.filter(
        account__organization_id=membership.organization_id,
        member_id=membership.user_id,
        created_at__gte=since,
    ).aggregate(
        total=Sum(
            Case(
                When(status=HoldStatus.OPEN, then=F("amount")),
                default=F("captured") - F("refunded"),
            )
        )
    )["total"]
    return spent or 0


def member_hold_create(*, membership: Membership, amount: int, **hold) -> Hold:
    """A hold on the organization's account for work `membership`'s member asks for: refused
    (SpendingLimitReached, naming the limit) past their monthly limit, InsufficientTokens when
    the organization is short, Forbidden for a viewer. `hold`: hold_create's other
    arguments."""
    account = account_for_organization(organization=membership.organization)
    with transaction.atomic():
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        require(
            locked, SPENDERS, "Viewers see the organization's work but cannot spend its credits"
        )
        if locked.monthly_limit is not None:
            start, _ = month_bounds(timezone.now())
            spent = member_spent(membership=locked, since=start)
            if spent + amount > locked.monthly_limit:
                raise SpendingLimitReached(
                    required=amount,
                    available=max(locked.monthly_limit - spent, 0),
                    limit=locked.monthly_limit,
                    spent=spent,
                )
        return hold_create(account=account, amount=amount, member=locked.user, **hold)


# --- Invitations ---------------------------------------------------------------------------

INVITATION_TTL = timedelta(days=7)


class InvitationInvalid(Conflict):
    code = "INVITATION_INVALID"
    message = "This invitation cannot be used"


class AlreadyMember(Conflict):
    code = "ALREADY_MEMBER"
    message = "This person is already a member of the organization"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_create(*, by: Membership, email: str, role: str = Role.MEMBER):
    """Invite `email` to `by`'s organization; returns (invitation, token). Only owners and
    admins invite, and only an owner makes another owner. The token is shown once."""
    require(by, MANAGERS, "Only the organization's owners and admins can invite")
    if role == Role.OWNER:
        require(by, OWNERS, "Only an owner can invite another owner")
    email = email.strip().lower()
    if Membership.objects.filter(organization_id=by.organization_id, user__email=email).exists():
        raise AlreadyMember(email=email)
    # Inviting again replaces the pending invitation: only the newest link works.
    Invitation.objects.filter(
        organization_id=by.organization_id, email=email, accepted_at=None, revoked_at=None
    ).update(revoked_at=timezone.now())
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization_id=by.organization_id,
        email=email,
        role=role,
        token_hash=_token_hash(token),
        invited_by=by.user,
        expires_at=timezone.now() + INVITATION_TTL,
    )
    return invitation, token


def invitation_revoke(*, by: Membership, invitation: Invitation) -> None:
    if invitation.organization_id != by.organization_id:
        raise NotFound("No such invitation")
    require(by, MANAGERS, "Only the organization's owners and admins can revoke invitations")
    updated = Invitation.objects.filter(pk=invitation.pk, accepted_at=None, revoked_at=None).update(
        revoked_at=timezone.now()
    )
    if not updated:
        raise InvitationInvalid("This invitation was already used or revoked")


def invitation_by_token(*, token: str) -> Invitation:
    """The invitation a link's token names (whatever its state), or NotFound."""
    invitation = (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(token_hash=_token_hash(token or ""))
        .first()
    )
    if invitation is None:
        raise NotFound("No such invitation")
    return invitation


def invitation_accept(*, user, token: str) -> Membership:
    """Join the organization `token` invites to, once, before it expires, as the invited email."""
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .filter(token_hash=_token_hash(token or ""))
            .first()
        )
        if invitation is None:
            raise NotFound("No such invitation")
        if invitation.revoked_at is not None:
            raise InvitationInvalid("This invitation was revoked", reason="revoked")
        if invitation.accepted_at is not None:
            raise InvitationInvalid("This invitation was already used", reason="used")
        if invitation.expires_at <= timezone.now():
            raise InvitationInvalid(
                "This invitation has expired; ask for a new one", reason="expired"
            )
        if invitation.email != user.email.lower():
            raise InvitationInvalid(
                "This invitation is for another email address; sign in with that one",
                reason="wrong_email",
            )
        membership, _ = Membership.objects.get_or_create(
            organization_id=invitation.organization_id,
            user=user,
            defaults={"role": invitation.role},
        )
        invitation.accepted_at, invitation.accepted_by = timezone.now(), user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


# --- Members ---------------------------------------------------------------------------------


class LastOwner(Conflict):
    code = "LAST_OWNER"
    message = "An organization always keeps at least one owner"


def _managed(by: Membership, target: Membership) -> None:
    """`by` may change `target`: an owner or admin of the same organization; only an owner
    touches an owner."""
    if target.organization_id != by.organization_id:
        raise NotFound("No such member")
    require(by, MANAGERS, "Only the organization's owners and admins manage members")
    if target.role == Role.OWNER:
        require(by, OWNERS, "Only an owner can change or remove another owner")


def _lock(target: Membership) -> tuple[Membership, list[int]]:
    """`target`'s row and the organization's owners' rows, locked in id order (so two owners
    changing each other at once take turns instead of deadlocking): the target as it is now,
    and the owners' ids."""
    rows = list(
        Membership.objects.select_for_update()
        .filter(Q(pk=target.pk) | Q(organization_id=target.organization_id, role=Role.OWNER))
        .order_by("pk")
    )
    current = next((row for row in rows if row.pk == target.pk), None)
    if current is None:
        raise NotFound("No such member")
    return current, [row.pk for row in rows if row.role == Role.OWNER]


def _keep_an_owner(target: Membership, owners: list[int]) -> None:
    if target.role == Role.OWNER and owners == [target.pk]:
        raise LastOwner()


def member_update(
    *, by: Membership, target: Membership, role: str | None = None, monthly_limit=...
) -> Membership:
    """Change a member's role and/or monthly limit (None: no limit; left out: unchanged)."""
    _managed(by, target)
    if role == Role.OWNER:
        require(by, OWNERS, "Only an owner can make someone an owner")
    with transaction.atomic():
        target, owners = _lock(target)
        fields = []
        if role is not None and role != target.role:
            _keep_an_owner(target, owners)
            target.role = role
            fields.append("role")
        if monthly_limit is not ...:
            target.monthly_limit = monthly_limit
            fields.append("monthly_limit")
        if fields:
            target.save(update_fields=fields)
    return target


def member_remove(*, by: Membership, target: Membership) -> None:
    """Take a member out of the organization (or leave it: `by` is `target`); their access ends
    with the row."""
    if by.pk != target.pk:
        _managed(by, target)
    with transaction.atomic():
        target, owners = _lock(target)
        _keep_an_owner(target, owners)
        Membership.objects.filter(pk=target.pk).delete()
