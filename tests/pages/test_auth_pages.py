"""Sign-up, sign-in (password and demo) and sign-out pages: the same services and rules as the
API, a rotated session, redirects only to this site, errors next to the fields."""

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from tests.factories import PASSWORD, UserFactory
from tokens.models import TokenAccount

pytestmark = pytest.mark.django_db

GOOD = {"email": "new@example.com", "password": "sunny-Meadow-42", "name": "Nia"}
PAGES_NEEDING_A_USER = [
    "/studio/",
    "/gallery/",
    "/assets/",
    "/projects/",
    "/dashboard/",
    "/account/",
]


def signed_in_user(client: Client):
    return client.session.get("_auth_user_id")


@pytest.mark.parametrize("path", PAGES_NEEDING_A_USER)
def test_pages_send_anonymous_visitors_to_login_with_next(client, path):
    response = client.get(path + "?x=1")
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}%3Fx%3D1"


def test_register_creates_the_account_signs_in_and_opens_the_studio(client):
    response = client.post("/register/", GOOD)
    assert response.status_code == 302 and response["Location"] == "/studio/"
    user = User.objects.get(email="new@example.com")
    assert signed_in_user(client) == str(user.pk)
    assert TokenAccount.objects.get(user=user).balance == 50
    assert client.get("/studio/").status_code == 200


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"email": ""}, "email", "This field may not be blank."),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"email": "a" * 250 + "@x.io"}, "email", "no more than 254 characters"),
        ({"password": "123"}, "password", "too short"),
        ({"password": "password"}, "password", "too common"),
        ({"password": ""}, "password", "may not be blank"),
        ({"name": "n" * 151}, "name", "no more than 150 characters"),
    ],
)
def test_register_shows_each_refusal_next_to_its_field_and_creates_nothing(
    client, changes, field, message
):
    response = client.post("/register/", {**GOOD, **changes})
    assert response.status_code == 400
    html = response.content.decode()
    slot = html.split(f'id="id_{field}_error"')[1].split("</div>")[0]
    assert message in slot, slot
    assert f'id="id_{field}" ' in html and 'aria-invalid="true"' in html
    assert not User.objects.filter(email=GOOD["email"]).exists()
    assert signed_in_user(client) is None


def test_register_with_a_taken_email_says_so_and_keeps_what_was_typed(client, user):
    response = client.post("/register/", {**GOOD, "email": user.email.upper()})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Email already exists" in html
    assert f'value="{user.email.upper()}"' in html  # the typed address, not lost
    assert 'value="sunny-Meadow-42"' not in html  # passwords are never echoed
    assert User.objects.count() == 1


def test_login_rotates_the_session_and_goes_to_the_studio(client, user):
    client.get("/login/")
    client.session.save()
    before = client.session.session_key
    response = client.post("/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/studio/"
    assert signed_in_user(client) == str(user.pk)
    assert client.session.session_key != before


@pytest.mark.parametrize(
    "email, password", [("user@example.com", "wrong-Pass-1"), ("nobody@example.com", PASSWORD)]
)
def test_login_refuses_wrong_credentials_with_one_message(client, email, password):
    UserFactory(email="user@example.com")
    response = client.post("/login/", {"email": email, "password": password})
    assert response.status_code == 400
    assert "Invalid email or password" in response.content.decode()
    assert signed_in_user(client) is None


def test_login_refuses_an_inactive_user(client):
    user = UserFactory(is_active=False)
    response = client.post("/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 400 and signed_in_user(client) is None


def test_login_with_empty_fields_shows_field_errors(client):
    response = client.post("/login/", {"email": "", "password": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert html.count("This field may not be blank.") == 2


@pytest.mark.parametrize("target", ["/gallery/?type=image", "/account/"])
def test_login_follows_a_local_next(client, user, target):
    response = client.post("/login/", {"email": user.email, "password": PASSWORD, "next": target})
    assert response["Location"] == target


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "http://testserver.evil.example/",
        "javascript:alert(1)",
        "studio/",
    ],
)
def test_login_never_redirects_off_site(client, user, target):
    page = client.get("/login/", {"next": target}).content.decode()
    assert target not in page  # not even carried in the form
    response = client.post("/login/", {"email": user.email, "password": PASSWORD, "next": target})
    assert response["Location"] == "/studio/"


def test_the_next_field_survives_a_failed_attempt(client, user):
    response = client.post("/login/", {"email": user.email, "password": "x", "next": "/assets/"})
    assert 'name="next" value="/assets/"' in response.content.decode()


def test_a_signed_in_visitor_on_login_or_register_goes_to_the_studio(client, user):
    client.force_login(user)
    assert client.get("/login/")["Location"] == "/studio/"
    assert client.get("/register/")["Location"] == "/studio/"


def test_the_demo_button_signs_into_the_demo_account(client):
    response = client.post("/login/demo/")
    assert response.status_code == 302 and response["Location"] == "/studio/"
    demo = User.objects.get(email=settings.DEMO_EMAIL)
    assert demo.is_demo and signed_in_user(client) == str(demo.pk)
    assert "shared demo account" in client.get("/studio/").content.decode()


def test_the_demo_cannot_be_entered_with_a_get_or_with_a_password(client):
    assert client.get("/login/demo/").status_code == 405
    client.post("/login/demo/")
    client.logout()
    response = client.post("/login/", {"email": settings.DEMO_EMAIL, "password": ""})
    assert response.status_code == 400 and signed_in_user(client) is None


def test_logout_needs_a_post_and_ends_the_session(client, user):
    client.force_login(user)
    confirm = client.get("/logout/")
    assert confirm.status_code == 200 and "Sign out?" in confirm.content.decode()
    assert signed_in_user(client) == str(user.pk)  # a GET (a link, a prefetch) changes nothing
    response = client.post("/logout/")
    assert response["Location"] == "/"
    assert signed_in_user(client) is None
    assert client.get("/studio/").status_code == 302


def test_forms_without_a_csrf_token_are_refused_with_a_page(user):
    client = Client(enforce_csrf_checks=True)
    for path, data in (
        ("/login/", {"email": user.email, "password": PASSWORD}),
        ("/register/", GOOD),
        ("/login/demo/", {}),
    ):
        response = client.post(path, data)
        assert response.status_code == 403
        assert "This form has expired" in response.content.decode()
    assert signed_in_user(client) is None
    assert not User.objects.filter(email=GOOD["email"]).exists()


def test_sign_in_pages_share_the_apis_per_ip_limit(client, settings, user):
    settings.AUTH_RATE_LIMIT = "2/m"
    for _ in range(2):
        client.post("/login/", {"email": user.email, "password": "wrong-1-Pass"})
    response = client.post("/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "Too many attempts" in response.content.decode()
    assert signed_in_user(client) is None
    api = client.post(
        "/api/v1/auth/login",
        {"email": user.email, "password": PASSWORD},
        content_type="application/json",
    )
    assert api.status_code == 429  # one counter for pages and API


def test_landing_shows_the_plans_from_the_plan_data(client):
    from accounts.models import Plan

    Plan.objects.filter(code="pro").update(credits_per_month=1234, images_per_minute=7)
    html = client.get("/").content.decode()
    assert "1,234" in html and "7 images a minute" in html
    assert "Try the demo" in html


def test_unknown_pages_are_a_404_page_in_the_layout(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert response["Content-Type"].startswith("text/html")
