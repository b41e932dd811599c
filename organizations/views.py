"""Pages of organizations: the header's workspace switcher, creating one, its settings page
(members, roles and limits, invitations, balance and ledger, usage by member) and accepting an
invitation.

Forms post to the page and call the same services as the API, validated by the API's own
serializers; a refusal is shown next to what it concerns. Anyone outside an organization gets
404 for its page, as from the API.
"""

from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core.exceptions import DomainError, Forbidden, NotFound
from core.pages import domain_errors, validate
from organizations.apis import InvitationsApi, MemberApi, OrganizationApi, UserOrganizationsApi
from organizations.models import MANAGERS, Role
from organizations.selectors import (
    invitation_get,
    invitation_list,
    member_get,
    member_list,
    membership_for,
    membership_list_for_user,
    month_start,
    organization_account,
    organization_entries,
    usage,
)
from organizations.services import (
    invitation_accept,
    invitation_by_token,
    invitation_create,
    invitation_revoke,
    member_remove,
    member_spent,
    member_update,
    organization_close,
    organization_create,
    organization_update,
)
from organizations.workspace import SESSION_KEY
from tokens.views import ledger_page

ROLE_CHOICES = Role.choices
INVITE_LINK_KEY = "invite_link"


@login_required
@require_POST
def workspace_switch(request: HttpRequest) -> HttpResponse:
    """Work in an organization (its slug) or, with none, in one's own account."""
    slug = request.POST.get("organization", "")[:50]
    if slug:
        membership = _membership(request, slug)
        request.session[SESSION_KEY] = slug
        messages.success(request, f"You are working in {membership.organization.name}.")
    else:
        request.session.pop(SESSION_KEY, None)
        messages.success(request, "You are working in your own account.")
    return redirect(_back(request))


def _membership(request: HttpRequest, slug: str):
    """The signed-in user's membership of `slug`: the 404 page from outside, as the API's."""
    try:
        return membership_for(user=request.user, slug=slug[:50])
    except NotFound:
        raise Http404("no such organization") from None


def _back(request: HttpRequest) -> str:
    """The page the switch was made on (a path on this site), else the studio: the same page,
    now showing the other workspace."""
    referer = urlsplit(request.headers.get("Referer", ""))
    same_site = url_has_allowed_host_and_scheme(
        request.headers.get("Referer", ""), allowed_hosts={request.get_host()}
    )
    path = referer.path
    if same_site and path.startswith("/") and not path.startswith(("//", "/organizations/")):
        return path
    return reverse("studio")


@login_required
def organization_new(request: HttpRequest) -> HttpResponse:
    errors: dict = {}
    if request.method == "POST":
        data, errors = validate(UserOrganizationsApi.InputSerializer, request.POST)
        if not errors:
            try:
                organization = organization_create(user=request.user, **data)
            except DomainError as exc:
                errors = domain_errors(exc, ("name", "slug"))
            else:
                request.session[SESSION_KEY] = organization.slug
                messages.success(
                    request, f"{organization.name} is ready. Invite your team and add credits."
                )
                return redirect("organization-page", slug=organization.slug)
    return render(
        request,
        "organizations/new.html",
        {
            "section": "organizations",
            "errors": errors,
            "posted": request.POST,
            "organizations": list(membership_list_for_user(user=request.user)),
        },
    )


def _post_action(request, membership) -> dict:
    """Run the form that was posted; returns its errors (by form), if any."""
    action = request.POST.get("action")
    organization = membership.organization
    try:
        if action == "invite":
            data, errors = validate(InvitationsApi.InputSerializer, request.POST)
            if errors:
                return {"invite": errors}
            _, token = invitation_create(by=membership, **data)
            messages.success(request, f"Invitation for {data['email']} created.")
            # Shown once, after the redirect (a reload must not send the form again).
            link = request.build_absolute_uri(reverse("invitation-page", args=[token]))
            request.session[INVITE_LINK_KEY] = link
            return {}
        if action == "rename":
            data, errors = validate(OrganizationApi.InputSerializer, request.POST)
            if errors:
                return {"settings": errors}
            organization_update(by=membership, name=data["name"])
            messages.success(request, f"The organization is now called {data['name']}.")
        elif action == "close":
            if request.POST.get("confirm", "").strip() != organization.slug:
                return {"close": {"confirm": f"Type {organization.slug} to confirm."}}
            organization_close(by=membership)
            request.session.pop(SESSION_KEY, None)
            messages.success(request, f"{organization.name} is closed.")
            return {"left": True}
        elif action == "revoke":
            invitation = invitation_get(
                organization=organization, invitation_id=request.POST.get("invitation", "")
            )
            invitation_revoke(by=membership, invitation=invitation)
            messages.success(request, f"The invitation for {invitation.email} is revoked.")
        elif action in ("member", "remove"):
            target = member_get(organization=organization, user_id=request.POST.get("member", ""))
            if action == "remove":
                member_remove(by=membership, target=target)
                if target.pk == membership.pk:
                    request.session.pop(SESSION_KEY, None)
                    messages.success(request, f"You left {organization.name}.")
                    return {"left": True}
                messages.success(request, f"{target.user.email} was removed.")
            else:
                limit = request.POST.get("monthlyLimit", "").strip()
                data, errors = validate(
                    MemberApi.InputSerializer,
                    {"role": request.POST.get("role", ""), "monthlyLimit": limit or None},
                )
                if errors:
                    return {"member": {**errors, "who": str(target.user.pk)}}
                member_update(
                    by=membership,
                    target=target,
                    role=data.get("role"),
                    monthly_limit=data.get("monthlyLimit"),
                )
                messages.success(request, f"{target.user.email} is saved.")
    except (NotFound, Forbidden) as exc:
        # Something gone meanwhile, or a form this role is not shown: said above the page.
        messages.error(request, exc.message)
    except DomainError as exc:
        # The refusal's message on the form: its details name values, not what to fix.
        form = action if action in ("invite", "rename", "close") else "member"
        return {"settings" if form == "rename" else form: {"form": exc.message}}
    return {}


@login_required
def organization_page(request: HttpRequest, slug: str) -> HttpResponse:
    membership = _membership(request, slug)
    organization = membership.organization
    errors = {}
    if request.method == "POST":
        errors = _post_action(request, membership)
        if errors.get("left"):
            return redirect("studio")
        if not errors:
            return redirect("organization-page", slug=slug)
    invite_link = request.session.pop(INVITE_LINK_KEY, None)
    account = organization_account(organization=organization)
    since = month_start()
    members = [
        {"membership": m, "spent": member_spent(membership=m, since=since)}
        for m in member_list(organization=organization)
    ]
    manager = membership.role in MANAGERS
    spent = usage(account=account) if manager else None
    top = max((row["credits"] for row in spent["by_member"]), default=0) if spent else 0
    return render(
        request,
        "organizations/settings.html",
        {
            "section": "organizations",
            "membership": membership,
            "organization": organization,
            "manager": manager,
            "owner": membership.role == Role.OWNER,
            "account": account,
            "members": members,
            "invitations": list(invitation_list(organization=organization)) if manager else [],
            "invite_link": invite_link,
            "errors": errors,
            "posted": request.POST,
            "roles": ROLE_CHOICES,
            "usage": spent,
            "usage_bars": [
                {**row, "share": round(100 * row["credits"] / top) if top else 0}
                for row in (spent["by_member"] if spent else [])
            ],
            "ledger": ledger_page(request, account, organization_entries),
        },
    )


def invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    """Where an invitation's link leads: sign in (or register) first, then join."""
    try:
        invitation = invitation_by_token(token=token[:200])
    except NotFound:
        raise Http404("no such invitation") from None
    if request.method == "POST" and request.user.is_authenticated:
        try:
            joined = invitation_accept(user=request.user, token=token[:200])
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            request.session[SESSION_KEY] = joined.organization.slug
            messages.success(request, f"Welcome to {joined.organization.name}.")
            return redirect("organization-page", slug=joined.organization.slug)
    return render(
        request,
        "organizations/invitation.html",
        {"invitation": invitation, "here": request.get_full_path()},
    )
