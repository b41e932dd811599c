"""Refresh (rotating, blacklisted on use), logout and password change."""

import pytest
from django.conf import settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from tests.accounts.auth.support import (
    DEMO,
    LOGIN,
    LOGOUT,
    NEW_PASSWORD,
    PASSWORD_URL,
    PROFILE,
    REFRESH,
    bearer,
)
from tests.conftest import assert_error, login
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


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
