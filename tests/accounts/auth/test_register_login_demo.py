"""Auth endpoints of the seed: /auth/register, /auth/login and /auth/demo."""

import pytest
from django.conf import settings

from accounts.models import Subscription, User
from tests.accounts.auth.support import (
    DEMO,
    LOGIN,
    PROFILE,
    REGISTER,
    assert_auth_shape,
    bearer,
    register,
)
from tests.conftest import assert_error
from tests.factories import PASSWORD, UserFactory
from tokens.audit import ledger_audit
from tokens.models import EntryKind, LedgerEntry, TokenAccount
from tokens.services import tokens_adjust

pytestmark = pytest.mark.django_db


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
