"""GET/PUT /users/profile (seed: "User Management")."""

from datetime import UTC, datetime

import pytest
from django.conf import settings

from accounts.models import User
from tests.conftest import SEED_TIME, assert_error, login
from tests.factories import PASSWORD, UserFactory
from tokens.services import hold_create

pytestmark = pytest.mark.django_db

PROFILE = "/api/v1/users/profile"


def first_of_next_month() -> str:
    now = datetime.now(UTC)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return f"{year:04d}-{month:02d}-01T00:00:00.000Z"


# --- GET ------------------------------------------------------------------------------------


def test_profile_has_the_seed_fields(user_api, user):
    response = user_api.get(PROFILE)

    assert response.status_code == 200, response.content
    body = response.json()
    seed_fields = {
        "id",
        "email",
        "name",
        "credits",
        "totalGenerations",
        "createdAt",
        "lastLogin",
        "subscription",
    }
    assert seed_fields <= set(body)
    assert body["id"] == str(user.pk)
    assert body["email"] == user.email
    assert body["name"] == user.name
    assert body["credits"] == 50
    assert body["totalGenerations"] == 0
    assert SEED_TIME.match(body["createdAt"])
    assert SEED_TIME.match(body["lastLogin"])  # set by the login in user_api
    assert body["subscription"] == {
        "plan": "free",
        "credits_per_month": 50,
        "next_refill": first_of_next_month(),
    }


def test_profile_shows_the_pro_plan_for_a_pro_user(api):
    pro = UserFactory(plan_code="pro")

    body = login(api, pro).get(PROFILE).json()

    assert body["subscription"]["plan"] == "pro"
    assert body["subscription"]["credits_per_month"] == 1000
    assert body["credits"] == 1000


def test_profile_credits_are_what_is_available_after_holds(user_api, user):
    hold_create(account=user.token_account, amount=12, operation="image_generation")

    body = user_api.get(PROFILE).json()

    assert body["credits"] == 38


def test_profile_shows_only_the_signed_in_user(api, user):
    other = UserFactory(credits=7)

    body = login(api, other).get(PROFILE).json()

    assert body["id"] == str(other.pk)
    assert body["email"] == other.email
    assert body["credits"] == 7


def test_profile_without_a_token_returns_401_with_www_authenticate(api):
    response = api.get(PROFILE)

    assert_error(response, 401, "UNAUTHORIZED")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_profile_update_without_a_token_returns_401(api, user):
    response = api.put(PROFILE, {"name": "Intruder"}, format="json")

    assert_error(response, 401, "UNAUTHORIZED")
    assert response.has_header("WWW-Authenticate")
    user.refresh_from_db()
    assert user.name != "Intruder"


# --- PUT ------------------------------------------------------------------------------------


def test_profile_update_changes_the_name_and_reports_updated_at(user_api, user):
    before = user.updated_at

    response = user_api.put(PROFILE, {"name": "John Smith"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert {"id", "email", "name", "credits", "updatedAt"} <= set(body)
    assert body["name"] == "John Smith"
    assert body["email"] == user.email
    assert body["credits"] == 50
    assert SEED_TIME.match(body["updatedAt"])
    user.refresh_from_db()
    assert user.name == "John Smith"
    assert user.updated_at > before


def test_profile_update_changes_the_email_to_a_free_address(api, user):
    login(api, user)

    response = api.put(PROFILE, {"email": "John.Smith@Example.com"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["email"] == "john.smith@example.com"
    user.refresh_from_db()
    assert user.email == "john.smith@example.com"
    fresh = type(api)()
    moved = fresh.post(
        "/api/v1/auth/login",
        {"email": "john.smith@example.com", "password": PASSWORD},
        format="json",
    )
    assert moved.status_code == 200


def test_profile_update_to_the_own_email_in_another_case_is_not_a_conflict(user_api, user):
    response = user_api.put(PROFILE, {"email": user.email.upper()}, format="json")

    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert user.email == user.email.lower()


@pytest.mark.parametrize("email", ["taken@example.com", "Taken@EXAMPLE.com"])
def test_profile_update_to_an_email_taken_by_another_user_returns_400_and_changes_nothing(
    user_api, user, email
):
    UserFactory(email="taken@example.com")
    original = (user.email, user.name)

    response = user_api.put(PROFILE, {"email": email, "name": "New Name"}, format="json")

    assert_error(response, 400, "INVALID_REQUEST", "Email already exists")
    user.refresh_from_db()
    assert (user.email, user.name) == original
    assert User.objects.filter(email="taken@example.com").count() == 1


@pytest.mark.parametrize("payload", [{}, {"nickname": "only unknown fields"}])
def test_profile_update_with_an_empty_body_returns_400(user_api, user, payload):
    before = (user.name, user.email, user.updated_at)

    response = user_api.put(PROFILE, payload, format="json")

    assert_error(response, 400, "INVALID_REQUEST")
    user.refresh_from_db()
    assert (user.name, user.email, user.updated_at) == before


def test_profile_update_with_an_invalid_email_returns_400(user_api, user):
    response = user_api.put(PROFILE, {"email": "not-an-email"}, format="json")

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert "email" in body["details"]
    user.refresh_from_db()
    assert user.email != "not-an-email"


def test_demo_account_cannot_change_its_email(api):
    token = api.post("/api/v1/auth/demo", {}, format="json").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = api.put(PROFILE, {"email": "mine@example.com"}, format="json")

    assert_error(response, 403, "FORBIDDEN")
    assert User.objects.filter(email=settings.DEMO_EMAIL).exists()
    assert not User.objects.filter(email="mine@example.com").exists()


def test_profile_email_cannot_be_changed_to_the_demo_email_before_the_demo_exists(api, user):
    login(api, user)
    original = user.email

    response = api.put(PROFILE, {"email": settings.DEMO_EMAIL}, format="json")

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert "email" in body["details"]
    user.refresh_from_db()
    assert user.email == original
    demo = type(api)().post("/api/v1/auth/demo", {}, format="json").json()["user"]
    assert demo["isDemo"] is True
    assert demo["id"] != str(user.pk)
