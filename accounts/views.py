"""Pages of accounts: the landing page, sign-up, sign-in (password and demo), sign-out, and the
account page (profile, password, API token, webhooks, a download of one's data, deleting the
account). Same services and serializers as the API; a session instead of a token."""

from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.apis import ExportOutput, LoginApi, PasswordApi, ProfileApi, RegisterApi
from accounts.models import Plan
from accounts.selectors_export import export_body, export_latest
from accounts.services_delete import account_delete
from core.errors import RateLimitExceeded
from core.exceptions import DomainError
from core.pages import domain_errors, safe_next, validate
from core.ratelimit import AuthIpThrottle
from studio import selectors as studio_selectors

AFTER_LOGIN = "/studio/"


def _over_auth_limit(request: HttpRequest) -> str | None:
    """The API's per-IP limit on sign-in and sign-up, applied to the pages too."""
    try:
        AuthIpThrottle().allow_request(request, None)
    except RateLimitExceeded as exc:
        return f"Too many attempts from your network. Try again in {exc.extra['retryAfter']} s."
    return None


def home(request: HttpRequest) -> HttpResponse:
    """The landing page: what CraftFrame does, sample pictures, plans."""
    return render(
        request,
        "accounts/landing.html",
        {
            "section": "home",
            "plans": list(Plan.objects.order_by("sort_order", "code")),
            "samples": studio_selectors.sample_list(request=request),
        },
    )


def _sign_in_page(
    request: HttpRequest, *, template: str, serializer, sign, kept: tuple[str, ...]
) -> HttpResponse:
    """A sign-up or sign-in form: the API's per-IP limit and input serializer, then
    `sign(data)` (a service) gives the user, who is signed in with a new session key (no
    fixation) and sent on to a local `next`. `kept` fields are shown again after an error."""
    if request.user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request, AFTER_LOGIN))
    errors, values = {}, {}
    if request.method == "POST":
        values = {name: request.POST.get(name, "") for name in kept}
        limited = _over_auth_limit(request)
        errors = {"form": limited} if limited else {}
        if not errors:
            data, errors = validate(serializer, request.POST)
        if not errors:
            try:
                user = sign(data)
            except DomainError as exc:
                errors = domain_errors(exc, tuple(serializer().fields))
            else:
                auth_login(request, user)
                return redirect(safe_next(request, AFTER_LOGIN))
    return render(
        request,
        template,
        {"errors": errors, "values": values, "next": safe_next(request, "")},
        status=400 if errors else 200,
    )


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    def sign(data: dict):
        user = services.user_register(**data)
        messages.success(request, "Welcome to CraftFrame! Your first credits are in.")
        return user

    return _sign_in_page(
        request,
        template="accounts/register.html",
        serializer=RegisterApi.InputSerializer,
        sign=sign,
        kept=("email", "name"),
    )


@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    return _sign_in_page(
        request,
        template="accounts/login.html",
        serializer=LoginApi.InputSerializer,
        sign=lambda data: services.user_login(**data, request=request),
        kept=("email",),
    )


@require_POST
def demo(request: HttpRequest) -> HttpResponse:
    """ "Try the demo": signs this browser into the shared demo account."""
    limited = _over_auth_limit(request)
    if limited:
        messages.error(request, limited)
        return redirect("home")
    try:
        user = services.demo_user_get()
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("home")
    auth_login(request, user)
    messages.info(
        request,
        "You are in the shared demo account: everything you make here is visible to other "
        "demo visitors. Create an account to keep your work.",
    )
    return redirect(safe_next(request, AFTER_LOGIN))


@require_http_methods(["GET", "POST"])
def logout(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        auth_logout(request)
        messages.success(request, "You are signed out.")
        return redirect("home")
    if not request.user.is_authenticated:
        return redirect("home")
    return render(request, "accounts/logout.html", {})


PROFILE_FIELDS = ("name", "email")
PASSWORD_FIELDS = ("current_password", "new_password")


@login_required
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """Profile, password, plan, an API token on request, webhooks and data exports (driven by
    the API), and deleting the account."""
    user = request.user
    errors: dict[str, dict] = {"profile": {}, "password": {}, "delete": {}}
    api_token = None
    status = 200
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "profile":
        data, errors["profile"] = validate(ProfileApi.InputSerializer, request.POST)
        if not errors["profile"]:
            try:
                services.profile_update(user=user, **data)
            except DomainError as exc:
                errors["profile"] = domain_errors(exc, PROFILE_FIELDS)
            else:
                messages.success(request, "Your profile is saved.")
                return redirect("account")
    elif action == "password":
        data, errors["password"] = validate(PasswordApi.InputSerializer, request.POST)
        if not errors["password"]:
            try:
                services.password_change(user=user, **data)
            except DomainError as exc:
                errors["password"] = domain_errors(
                    exc, PASSWORD_FIELDS, aliases={"password": "new_password"}
                )
            else:
                # This browser stays signed in; every other session and API token is revoked.
                update_session_auth_hash(request, user)
                messages.success(
                    request, "Password changed. Other sessions and API tokens were signed out."
                )
                return redirect("account")
    elif action == "token":
        api_token = services.tokens_issue(user=user)
    elif action == "delete_account":
        data, errors["delete"] = validate(ProfileApi.DeleteInput, request.POST)
        if not errors["delete"]:
            try:
                account_delete(user=user, password=data["password"])
            except DomainError as exc:
                errors["delete"] = domain_errors(exc, ("password",))
            else:
                auth_logout(request)  # the session would no longer be valid anyway
                messages.success(
                    request, "Your account and everything in it were deleted. Goodbye!"
                )
                return redirect("home")
    elif action is not None:
        errors["profile"] = {"form": "Unknown action."}
    if any(errors.values()):
        status = 400
        user.refresh_from_db()  # show what is saved, not the rejected values
    webhooks = list(studio_selectors.webhook_list(user=user))
    export = export_latest(user=user)
    return render(
        request,
        "accounts/account.html",
        {
            "section": "account",
            "profile": selectors.profile_get(user=user),
            "errors": errors,
            "posted": request.POST if status == 400 else {},
            "api_token": api_token,
            "webhooks": [
                (hook, studio_selectors.delivery_list_recent(webhook=hook)) for hook in webhooks
            ],
            "webhook_events": studio_selectors.webhook_event_choices(),
            # About the person's own account whatever workspace is chosen: its API calls
            # (webhooks included) are theirs, not an organization's.
            "own_account_page": True,
            "base_url": request.build_absolute_uri("/api/v1"),
            "page_data": {
                "export": ExportOutput(export_body(export, request)).data if export else None
            },
        },
        status=status,
    )
