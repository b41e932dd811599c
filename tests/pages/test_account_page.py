"""The account page: profile and password through the accounts services (errors next to the
fields, nothing half-saved), a fresh API token on request, the webhooks and their log."""

import re

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.services import demo_user_get, tokens_issue
from studio.services.webhooks import webhook_create, webhooks_emit
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def field_error(html: str, name: str) -> str:
    return html.split(f'id="id_{name}_error"')[1].split("</div>")[0]


def test_the_page_shows_profile_plan_and_credits(signed_in, user):
    html = signed_in.get("/account/").content.decode()
    assert f'value="{user.email}"' in html
    assert "Free" in html and "50" in html
    assert 'aria-current="page"' in html.split("Account</a>")[0].rsplit("<a", 1)[1]


def test_profile_changes_are_saved(signed_in, user):
    response = signed_in.post(
        "/account/", {"action": "profile", "name": "Ada L.", "email": "ADA@Example.com"}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.name, user.email) == ("Ada L.", "ada@example.com")


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"name": "n" * 151}, "name", "no more than 150 characters"),
    ],
)
def test_a_bad_profile_is_refused_next_to_its_field_and_nothing_is_saved(
    signed_in, user, data, field, message
):
    before = (user.name, user.email)
    response = signed_in.post("/account/", {"action": "profile", "name": user.name, **data})
    assert response.status_code == 400
    assert message in field_error(response.content.decode(), field)
    user.refresh_from_db()
    assert (user.name, user.email) == before


def test_an_email_of_another_account_is_refused(signed_in, user):
    other = UserFactory()
    response = signed_in.post("/account/", {"action": "profile", "email": other.email})
    assert response.status_code == 400
    assert "Email already exists" in field_error(response.content.decode(), "email")
    user.refresh_from_db()
    assert user.email != other.email


def test_password_change_keeps_this_session_and_revokes_the_rest(signed_in, user):
    refresh = tokens_issue(user=user)["refresh"]
    other_browser = type(signed_in)()
    other_browser.force_login(user)
    response = signed_in.post(
        "/account/",
        {"action": "password", "current_password": PASSWORD, "new_password": "new-Secret-77"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("new-Secret-77") and not user.check_password(PASSWORD)
    assert signed_in.get("/account/").status_code == 200  # still signed in here
    assert other_browser.get("/account/").status_code == 302  # signed out elsewhere
    token = OutstandingToken.objects.get(token=refresh)
    assert BlacklistedToken.objects.filter(token=token).exists()


@pytest.mark.parametrize(
    "current, new, field, message",
    [
        ("wrong-Pass-1", "new-Secret-77", "current_password", "Current password is incorrect"),
        (PASSWORD, "123", "new_password", "too short"),
        (PASSWORD, "", "new_password", "may not be blank"),
    ],
)
def test_a_refused_password_change_says_why_and_changes_nothing(
    signed_in, user, current, new, field, message
):
    response = signed_in.post(
        "/account/", {"action": "password", "current_password": current, "new_password": new}
    )
    assert response.status_code == 400
    assert message in field_error(response.content.decode(), field)
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_a_fresh_token_works_against_the_api(signed_in, user):
    response = signed_in.post("/account/", {"action": "token"})
    html = response.content.decode()
    token = re.search(r'id="api-access-token">([^<]+)<', html).group(1)
    assert f"Authorization: Bearer {token}" in html  # the curl example uses it
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/users/profile").json()["email"] == user.email


def test_an_unknown_action_is_a_message_not_an_error(signed_in):
    response = signed_in.post("/account/", {"action": "drop-tables"})
    assert response.status_code == 400
    assert "Unknown action." in response.content.decode()


def test_the_demo_account_cannot_change_profile_or_password(client):
    demo = demo_user_get()
    client.force_login(demo)
    html = client.get("/account/").content.decode()
    assert "cannot change its profile or password" in html
    response = client.post("/account/", {"action": "profile", "name": "Mallory"})
    assert response.status_code == 400
    demo.refresh_from_db()
    assert demo.name == "Demo User"


def test_webhooks_and_their_delivery_log_are_listed_for_their_owner_only(signed_in, user, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    webhook, _ = webhook_create(
        user=user, url="http://127.0.0.1:9/hook", events=["generation.completed"]
    )
    (delivery,) = webhooks_emit(user=user, event="generation.completed", data={"id": "img_1"})
    other = UserFactory()
    webhook_create(user=other, url="http://127.0.0.1:9/other-hook", events=["generation.failed"])
    html = signed_in.get("/account/").content.decode()
    assert "http://127.0.0.1:9/hook" in html and "other-hook" not in html
    assert f"/api/v1/webhooks/{webhook.id}/deliveries/{delivery.id}/redeliver" in html
    assert "pending" in html


def test_no_webhooks_is_an_empty_state(signed_in):
    assert "No webhooks yet" in signed_in.get("/account/").content.decode()


def test_the_browsable_api_works_from_a_signed_in_session(signed_in, user):
    response = signed_in.get("/api/v1/users/profile", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert user.email in response.content.decode()
