"""Auth endpoints (seed: /auth/login, /auth/register, /auth/demo) plus refresh, logout and
password change."""

import re

import pytest
from django.conf import settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import Subscription, User
from tests.conftest import login
from tests.factories import PASSWORD, UserFactory
from tokens.audit import ledger_audit
from tokens.models import EntryKind, LedgerEntry, TokenAccount
from tokens.services import tokens_adjust

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
DEMO = "/api/v1/auth/demo"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
PASSWORD_URL = "/api/v1/auth/password"
PROFILE = "/api/v1/users/profile"

SEED_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NEW_PASSWORD = "another-Battery-77"


def assert_error(response, status: int, code: str, error: str | None = None) -> dict:
    """The standard error format, with this status and code; returns the body."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "code", "details", "timestamp", "requestId"}
    assert body["code"] == code
    if error is not None:
        assert body["error"] == error
    assert SEED_TIME.match(body["timestamp"])
    assert body["requestId"] == response["X-Request-ID"]
    return body


def register(api, email="new@example.com", password=PASSWORD, name="Jane Doe"):
    return api.post(REGISTER, {"email": email, "password": password, "name": name}, format="json")


def assert_auth_shape(body: dict) -> None:
    assert set(body) == {"token", "refresh", "user"}
    assert body["token"] and body["refresh"] and body["token"] != body["refresh"]
    assert set(body["user"]) == {"id", "email", "name", "credits", "createdAt", "isDemo"}
    assert SEED_TIME.match(body["user"]["createdAt"])


def bearer(api, token: str):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


# --- Register -------------------------------------------------------------------------------


def test_register_returns_201_with_tokens_and_the_user(api):
    response = register(api)

    assert response.status_code == 201, response.content
    body = response.json()
    assert_auth_shape(body)
    user = User.objects.get(email="new@example.com")
    assert body["user"] == {
        "id": str(user.pk),
        "email": "new@example.com",
        "name": "Jane Doe",
        "credits": 50,
        "createdAt": body["user"]["createdAt"],
        "isDemo": False,
    }
    assert user.check_password(PASSWORD)
    assert not user.is_staff and not user.is_demo


def test_register_token_authenticates_the_new_user(api):
    token = register(api).json()["token"]

    response = bearer(api, token).get(PROFILE)

    assert response.status_code == 200
    assert response.json()["email"] == "new@example.com"


def test_register_puts_the_user_on_the_free_plan_with_a_ledger_grant_of_50(api):
    register(api)

    user = User.objects.get(email="new@example.com")
    assert Subscription.objects.get(user=user).plan.code == "free"
    account = TokenAccount.objects.get(user=user)
    assert (account.balance, account.held) == (50, 0)
    entry = LedgerEntry.objects.get(account=account)
    assert (entry.kind, entry.amount, entry.balance_after) == (EntryKind.GRANT, 50, 50)
    assert ledger_audit() == []


def test_register_normalises_the_email_to_lower_case(api):
    response = register(api, email="  Mixed.Case@Example.COM ")

    assert response.status_code == 201, response.content
    assert response.json()["user"]["email"] == "mixed.case@example.com"
    assert User.objects.filter(email="mixed.case@example.com").count() == 1


@pytest.mark.parametrize("email", ["taken@example.com", "TAKEN@Example.com"])
def test_duplicate_email_returns_400_and_creates_nothing(api, email):
    UserFactory(email="taken@example.com")
    users, accounts, entries = (
        User.objects.count(),
        TokenAccount.objects.count(),
        LedgerEntry.objects.count(),
    )

    response = register(api, email=email)

    body = assert_error(response, 400, "INVALID_REQUEST", "Email already exists")
    assert body["details"] == {"email": "Email already exists"}
    assert User.objects.count() == users
    assert TokenAccount.objects.count() == accounts
    assert LedgerEntry.objects.count() == entries


def test_weak_password_returns_400_with_the_validator_messages_and_creates_nothing(api):
    response = register(api, password="12345")

    body = assert_error(response, 400, "INVALID_REQUEST")
    messages = body["details"]["password"]
    assert "This password is too short. It must contain at least 8 characters." in messages
    assert "This password is entirely numeric." in messages
    assert "This password is too common." in messages
    assert not User.objects.filter(email="new@example.com").exists()
    assert TokenAccount.objects.count() == 0


def test_password_similar_to_the_email_is_rejected(api):
    response = register(api, email="sunflower.garden@example.com", password="sunflowergarden")

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert any("too similar" in message for message in body["details"]["password"])
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"password": PASSWORD}, "email"),
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@example.com"}, "password"),
    ],
)
def test_register_with_missing_or_invalid_fields_returns_400_naming_the_field(api, payload, field):
    response = api.post(REGISTER, payload, format="json")

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert field in body["details"]
    assert not User.objects.exists()


# --- Login ----------------------------------------------------------------------------------


def test_login_returns_200_with_tokens_and_the_user(api, user):
    response = api.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert_auth_shape(body)
    assert body["user"]["id"] == str(user.pk)
    assert body["user"]["email"] == user.email
    assert body["user"]["credits"] == 50
    assert body["user"]["isDemo"] is False


def test_login_accepts_the_email_in_any_case(api, user):
    response = api.post(LOGIN, {"email": user.email.upper(), "password": PASSWORD}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == str(user.pk)


def test_login_updates_last_login(api, user):
    assert user.last_login is None

    api.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json")

    user.refresh_from_db()
    assert user.last_login is not None


def test_wrong_password_and_unknown_email_get_the_same_401(api, user):
    wrong = api.post(LOGIN, {"email": user.email, "password": "not-it-at-all"}, format="json")
    unknown = api.post(LOGIN, {"email": "nobody@example.com", "password": PASSWORD}, format="json")

    wrong_body = assert_error(wrong, 401, "UNAUTHORIZED", "Invalid email or password")
    unknown_body = assert_error(unknown, 401, "UNAUTHORIZED", "Invalid email or password")
    volatile = ("timestamp", "requestId")
    assert {k: v for k, v in wrong_body.items() if k not in volatile} == {
        k: v for k, v in unknown_body.items() if k not in volatile
    }
    user.refresh_from_db()
    assert user.last_login is None


def test_inactive_user_cannot_log_in(api):
    inactive = UserFactory(is_active=False)

    response = api.post(LOGIN, {"email": inactive.email, "password": PASSWORD}, format="json")

    assert_error(response, 401, "UNAUTHORIZED", "Invalid email or password")


def test_demo_user_cannot_log_in_by_password_even_if_one_was_set(api):
    api.post(DEMO, {}, format="json")
    demo = User.objects.get(email=settings.DEMO_EMAIL)
    demo.set_password(PASSWORD)
    demo.save()

    response = api.post(LOGIN, {"email": settings.DEMO_EMAIL, "password": PASSWORD}, format="json")

    assert_error(response, 401, "UNAUTHORIZED", "Invalid email or password")


# --- Demo -----------------------------------------------------------------------------------


def test_demo_returns_tokens_for_the_demo_account_with_1000_credits(api):
    response = api.post(DEMO, {}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert_auth_shape(body)
    assert body["user"]["email"] == "demo@craftframe.app"
    assert body["user"]["name"] == "Demo User"
    assert body["user"]["credits"] == 1000
    assert body["user"]["isDemo"] is True
    assert bearer(api, body["token"]).get(PROFILE).json()["email"] == "demo@craftframe.app"


def test_repeated_demo_calls_use_the_same_user(api):
    first = api.post(DEMO, {}, format="json").json()
    second = api.post(DEMO, {}, format="json").json()

    assert first["user"]["id"] == second["user"]["id"]
    assert User.objects.filter(email=settings.DEMO_EMAIL).count() == 1
    assert TokenAccount.objects.filter(user__email=settings.DEMO_EMAIL).count() == 1
    assert second["user"]["credits"] == 1000


def test_demo_account_is_refilled_to_1000_when_below_100(api):
    api.post(DEMO, {}, format="json")
    account = TokenAccount.objects.get(user__email=settings.DEMO_EMAIL)
    tokens_adjust(account=account, amount=-950, actor=None, memo="visitors spent it")
    account.refresh_from_db()
    assert account.available == 50

    response = api.post(DEMO, {}, format="json")

    assert response.json()["user"]["credits"] == 1000
    account.refresh_from_db()
    assert (account.balance, account.held) == (1000, 0)
    refill = account.entries.get(memo="Automatic refill")
    assert (refill.kind, refill.amount) == (EntryKind.GRANT, 950)
    assert ledger_audit() == []


def test_demo_account_above_100_is_not_refilled(api):
    api.post(DEMO, {}, format="json")
    account = TokenAccount.objects.get(user__email=settings.DEMO_EMAIL)
    tokens_adjust(account=account, amount=-800, actor=None, memo="visitors spent it")

    response = api.post(DEMO, {}, format="json")

    assert response.json()["user"]["credits"] == 200
    assert not account.entries.filter(memo="Automatic refill").exists()


@pytest.mark.parametrize("email", ["demo@craftframe.app", "Demo@CraftFrame.app"])
def test_the_demo_email_cannot_be_registered_before_the_demo_account_exists(api, email):
    # Otherwise the registrant's own account becomes "the demo account" that POST /auth/demo
    # hands to every visitor, and the registrant can still log in to it by password.
    assert not User.objects.filter(email=settings.DEMO_EMAIL).exists()

    response = register(api, email=email)

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert "email" in body["details"]
    assert not User.objects.filter(email=settings.DEMO_EMAIL).exists()
    demo = api.post(DEMO, {}, format="json").json()["user"]
    assert demo["isDemo"] is True
    assert demo["credits"] == 1000


def test_the_demo_email_cannot_be_registered_once_the_demo_account_exists(api):
    api.post(DEMO, {}, format="json")

    response = register(api, email=settings.DEMO_EMAIL)

    assert_error(response, 400, "INVALID_REQUEST", "Email already exists")
    assert User.objects.filter(email=settings.DEMO_EMAIL).count() == 1


# --- Refresh and logout ---------------------------------------------------------------------


def test_refresh_returns_a_new_pair_and_the_old_refresh_token_is_rejected(api, user):
    tokens = api.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json").json()

    response = api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"token", "refresh"}
    assert body["refresh"] != tokens["refresh"]
    assert body["token"] != tokens["token"]
    again = api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert_error(again, 401, "UNAUTHORIZED")


def test_access_token_from_refresh_works_on_the_profile(api, user):
    tokens = api.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json").json()
    refreshed = api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").json()

    response = bearer(api, refreshed["token"]).get(PROFILE)

    assert response.status_code == 200
    assert response.json()["id"] == str(user.pk)


def test_rotated_refresh_token_can_itself_be_refreshed(api, user):
    tokens = api.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json").json()
    second = api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").json()

    third = api.post(REFRESH, {"refresh": second["refresh"]}, format="json")

    assert third.status_code == 200, third.content


def test_refresh_with_garbage_returns_401(api):
    response = api.post(REFRESH, {"refresh": "not.a.token"}, format="json")

    assert_error(response, 401, "UNAUTHORIZED")


def test_refresh_with_an_access_token_returns_401(api, user):
    tokens = api.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json").json()

    response = api.post(REFRESH, {"refresh": tokens["token"]}, format="json")

    assert_error(response, 401, "UNAUTHORIZED")


def test_refresh_for_an_inactive_user_returns_401(api, user):
    tokens = api.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json").json()
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")

    assert_error(response, 401, "UNAUTHORIZED")


def test_refresh_for_a_deleted_user_returns_401(api):
    # Made without a token account: once one is opened the user is PROTECTed from deletion.
    doomed = User.objects.create_user(email="doomed@example.com", password=PASSWORD)
    refresh = str(RefreshToken.for_user(doomed))
    doomed.delete()

    response = api.post(REFRESH, {"refresh": refresh}, format="json")

    assert_error(response, 401, "UNAUTHORIZED")


def test_logout_blacklists_the_refresh_token(api, user):
    tokens = api.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json").json()

    response = api.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {"message": "Logged out"}
    assert BlacklistedToken.objects.filter(token__user=user).count() == 1
    again = api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert_error(again, 401, "UNAUTHORIZED")


def test_logout_with_an_invalid_token_returns_401(api):
    response = api.post(LOGOUT, {"refresh": "garbage"}, format="json")

    assert_error(response, 401, "UNAUTHORIZED")
    assert BlacklistedToken.objects.count() == 0


def test_logout_without_a_token_returns_400(api):
    response = api.post(LOGOUT, {}, format="json")

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert "refresh" in body["details"]


# --- Password change ------------------------------------------------------------------------


def change_password(api, current=PASSWORD, new=NEW_PASSWORD):
    return api.put(PASSWORD_URL, {"current_password": current, "new_password": new}, format="json")


def test_password_change_with_wrong_current_password_returns_400_and_changes_nothing(
    user_api, user
):
    response = change_password(user_api, current="not-my-password")

    body = assert_error(response, 400, "INVALID_REQUEST", "Current password is incorrect")
    assert "current_password" in body["details"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_password_change_to_a_weak_password_returns_400_and_changes_nothing(user_api, user):
    response = change_password(user_api, new="123")

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert "This password is entirely numeric." in body["details"]["password"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_password_change_lets_the_new_password_in_and_keeps_the_old_one_out(api, user):
    login(api, user)

    response = change_password(api)

    assert response.status_code == 200, response.content
    assert response.json() == {"message": "Password changed"}
    fresh = type(api)()
    new = fresh.post(LOGIN, {"email": user.email, "password": NEW_PASSWORD}, format="json")
    assert new.status_code == 200
    old = fresh.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json")
    assert_error(old, 401, "UNAUTHORIZED", "Invalid email or password")


def test_password_change_revokes_refresh_tokens_issued_before(api, user):
    first = api.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json").json()
    # A rotated token is also "issued before": it must be revoked too.
    rotated = api.post(REFRESH, {"refresh": first["refresh"]}, format="json").json()
    other_device = api.post(
        LOGIN, {"email": user.email, "password": PASSWORD}, format="json"
    ).json()
    bearer(api, other_device["token"])

    assert change_password(api).status_code == 200

    for refresh in (rotated["refresh"], other_device["refresh"]):
        response = api.post(REFRESH, {"refresh": refresh}, format="json")
        assert_error(response, 401, "UNAUTHORIZED")
    live = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    assert not live.exists()


def test_password_change_requires_authentication(api):
    response = change_password(api)

    assert_error(response, 401, "UNAUTHORIZED")


def test_demo_account_cannot_change_password(api):
    token = api.post(DEMO, {}, format="json").json()["token"]

    response = change_password(bearer(api, token))

    assert_error(response, 403, "FORBIDDEN")
    assert not User.objects.get(email=settings.DEMO_EMAIL).has_usable_password()


def test_logout_with_the_refresh_token_of_a_deleted_user_still_revokes_it(api):
    doomed = User.objects.create_user(email="doomed@example.com", password=PASSWORD)
    refresh = str(RefreshToken.for_user(doomed))
    doomed.delete()

    response = api.post(LOGOUT, {"refresh": refresh}, format="json")

    assert response.status_code == 200, response.content
    jti = RefreshToken(refresh, verify=False)["jti"]
    assert BlacklistedToken.objects.filter(token__jti=jti).exists()
