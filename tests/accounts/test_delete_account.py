"""Deleting one's account: DELETE /users/profile with the password cancels queued and running
work and refunds it first, deletes the files and every row of personal data, keeps the ledger
on the anonymised user row (the audit stays clean), revokes tokens and sessions; the email can
register again and nobody else's data is touched. A wrong password deletes nothing."""

import pytest
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import DataExport, Subscription, User
from accounts.services_delete import DELETED_DOMAIN
from accounts.tasks import build_export
from pipelines.models import Execution, ExecutionStatus, Rating, Template
from studio import storage
from studio.models import Asset, Generation, Project, Status, Style, Webhook
from tests.accounts.support import EXPORT, fill
from tests.conftest import assert_error, login
from tests.factories import PASSWORD, UserFactory
from tests.pipelines.support import execute
from tests.studio.lifecycle.support import make_running
from tokens.audit import ledger_audit
from tokens.models import EntryKind, Hold, HoldStatus, LedgerEntry, TokenAccount

# Deletion removes files, and storage refuses to run inside a transaction.
pytestmark = pytest.mark.django_db(transaction=True)

PROFILE = "/api/v1/users/profile"
LOGIN = "/api/v1/auth/login"


def delete_account(api, password: str = PASSWORD):
    return api.delete(PROFILE, {"password": password}, format="json")


def stored_under(prefix: str) -> list[str]:
    return [item.key for item in storage.list_objects(prefix)]


def owned(user) -> dict[str, int]:
    """How many rows of each kind of personal data the user has."""
    return {
        "generations": Generation.objects.filter(user=user).count(),
        "assets": Asset.objects.filter(user=user).count(),
        "projects": Project.objects.filter(user=user).count(),
        "styles": Style.objects.filter(user=user).count(),
        "templates": Template.objects.filter(owner=user).count(),
        "executions": Execution.objects.filter(user=user).count(),
        "ratings": Rating.objects.filter(user=user).count(),
        "webhooks": Webhook.objects.filter(user=user).count(),
        "exports": DataExport.objects.filter(user=user).count(),
        "subscriptions": Subscription.objects.filter(user=user).count(),
    }


def rated_starter(api) -> Template:
    starter = Template.objects.filter(owner=None).order_by("pk").first()
    response = api.post(f"/api/v1/templates/{starter.pk}/rating", {"score": 5}, format="json")
    assert response.status_code == 200, response.content
    return starter


@pytest.fixture
def in_flight(user_api):
    """Work still going: a queued image, a running one, and a queued template run."""
    queued = user_api.post(
        "/api/v1/studio/generate-image", {"prompt": "A queued kite"}, format="json"
    ).json()["id"]
    running = user_api.post(
        "/api/v1/studio/generate-image", {"prompt": "A running kite"}, format="json"
    ).json()["id"]
    make_running(running)
    template = user_api.post(
        "/api/v1/templates",
        {
            "name": "Two kites",
            "steps": [
                {"operation": "generate-image", "params": {"prompt": "a kite"}},
                {"operation": "upscale", "params": {"source": "{{steps.1.output}}"}},
            ],
        },
        format="json",
    ).json()["id"]
    execution = execute(user_api, template)
    assert execution.status_code == 202, execution.content
    return {"generations": [queued, running], "execution": execution.json()["id"]}


def test_running_work_is_cancelled_and_refunded_and_the_ledger_stays_for_the_books(
    media, user_api, user, run_worker, in_flight
):
    account = TokenAccount.objects.get(user=user)
    account.refresh_from_db()
    assert account.held > 0
    entries_before = LedgerEntry.objects.filter(account=account).count()
    spent_before = account.balance  # completed work was paid for; in-flight work is only held

    response = delete_account(user_api)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["message"] == "Account deleted"
    assert body["cancelled"] == {"executions": 1, "generations": 2}
    assert body["released"] == account.held
    account.refresh_from_db()
    assert (account.balance, account.held) == (spent_before, 0)
    assert not Hold.objects.filter(account=account, status=HoldStatus.OPEN).exists()
    releases = LedgerEntry.objects.filter(account=account, kind=EntryKind.RELEASE)
    assert releases.count() == 3  # one per cancelled job's hold, none twice
    assert LedgerEntry.objects.filter(account=account).count() == entries_before + 3
    assert ledger_audit() == []
    # The ledger stays on the same row, with nothing left that says who it was.
    user.refresh_from_db()
    assert account.user_id == user.pk
    assert user.email.endswith(f"@{DELETED_DOMAIN}") and user.name == ""
    assert not user.is_active and not user.has_usable_password()
    assert user.deleted_at is not None


def test_files_and_every_row_of_personal_data_are_deleted(backend, user_api, user, run_worker):
    made = fill(user_api, run_worker)
    rated = rated_starter(user_api)
    user_api.post(EXPORT)
    run_worker(build_export.queue_name)
    assert execute(user_api, made.template).status_code == 202  # left queued
    prefix = f"users/{user.pk}/"
    assert stored_under(prefix)
    assert all(owned(user).values())  # some of everything

    response = delete_account(user_api)

    assert response.status_code == 200, response.content
    assert stored_under(prefix) == []
    assert set(owned(user).values()) == {0}
    deleted = response.json()["deleted"]
    assert deleted["generations"] == 5  # the four made, and the run's first step
    assert (deleted["templates"], deleted["executions"], deleted["ratings"]) == (1, 1, 1)
    assert deleted["files"] > 0
    rated.refresh_from_db()
    assert (rated.rating_count, rated.rating_sum) == (0, 0)  # the rating is withdrawn
    assert ledger_audit() == []


def test_afterwards_nothing_signs_in_as_the_account(media, api, user):
    tokens = api.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json").json()
    browser = Client()
    browser.force_login(user)
    assert browser.get("/account/").status_code == 200
    email = user.email
    signed_in = APIClient()
    signed_in.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['token']}")

    assert delete_account(signed_in).status_code == 200

    login_again = api.post(LOGIN, {"email": email, "password": PASSWORD}, format="json")
    assert_error(login_again, 401, "UNAUTHORIZED", "Invalid email or password")
    refreshed = api.post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert_error(refreshed, 401, "UNAUTHORIZED")
    assert_error(signed_in.get(PROFILE), 401, "UNAUTHORIZED")  # the access token is dead too
    outstanding = OutstandingToken.objects.filter(user=user)
    assert outstanding.exists()
    assert BlacklistedToken.objects.filter(token__in=outstanding).count() == outstanding.count()
    response = browser.get("/account/")  # the session no longer signs anyone in
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_email_can_register_again_as_a_new_account(media, api, user, user_api):
    email, old_id = user.email, user.pk
    assert delete_account(user_api).status_code == 200

    response = api.post(
        "/api/v1/auth/register",
        {"email": email, "password": "another-Strong-93", "name": "Back again"},
        format="json",
    )

    assert response.status_code == 201, response.content
    fresh = User.objects.get(email=email)
    assert fresh.pk != old_id and fresh.is_active
    assert response.json()["user"]["credits"] == 50
    assert User.objects.filter(pk=old_id, is_active=False).exists()
    assert ledger_audit() == []


def test_other_users_are_untouched(backend, user_api, user, run_worker):
    other = UserFactory()
    other_api = login(APIClient(), other)
    theirs = fill(other_api, run_worker)
    rated = rated_starter(other_api)
    their_files = stored_under(f"users/{other.pk}/")
    their_rows = owned(other)
    their_ledger = list(LedgerEntry.objects.filter(account__user=other).values_list("pk"))
    fill(user_api, run_worker)

    assert delete_account(user_api).status_code == 200

    assert stored_under(f"users/{other.pk}/") == their_files
    assert owned(other) == their_rows
    assert list(LedgerEntry.objects.filter(account__user=other).values_list("pk")) == their_ledger
    shown = other_api.get(f"/api/v1/studio/generation/{theirs.image}")
    assert shown.status_code == 200 and shown.json()["status"] == "completed"
    rated.refresh_from_db()
    assert (rated.rating_count, rated.rating_sum) == (1, 5)
    assert other_api.get(PROFILE).status_code == 200


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"password": "not-my-Password-1"}, "Password is incorrect"),
        ({"password": ""}, None),
        ({}, None),
    ],
    ids=["wrong", "blank", "missing"],
)
def test_a_wrong_or_missing_password_is_refused_and_nothing_is_deleted(
    media, user_api, user, in_flight, body, error
):
    prefix = f"users/{user.pk}/"
    files, rows = stored_under(prefix), owned(user)
    entries = LedgerEntry.objects.count()

    response = user_api.delete(PROFILE, body, format="json")

    assert_error(response, 400, "INVALID_REQUEST", error, field="password")
    user.refresh_from_db()
    assert user.is_active and user.check_password(PASSWORD) and user.deleted_at is None
    assert (stored_under(prefix), owned(user)) == (files, rows)
    assert LedgerEntry.objects.count() == entries
    statuses = set(
        Generation.objects.filter(pk__in=in_flight["generations"]).values_list("status", flat=True)
    )
    assert statuses == {Status.QUEUED, Status.GENERATING}  # still going
    assert Execution.objects.get(pk=in_flight["execution"]).status == ExecutionStatus.QUEUED
    assert user_api.get(PROFILE).status_code == 200


def test_the_shared_demo_account_cannot_be_deleted(media, api):
    token = api.post("/api/v1/auth/demo").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert_error(delete_account(api, "anything"), 403, "FORBIDDEN")
    assert User.objects.filter(is_demo=True, is_active=True).count() == 1


def test_the_account_page_deletes_with_the_password_and_signs_out(media, client, user):
    client.force_login(user)

    wrong = client.post("/account/", {"action": "delete_account", "password": "not-mine-1A"})
    assert wrong.status_code == 400
    assert "Password is incorrect" in wrong.content.decode()
    user.refresh_from_db()
    assert user.is_active

    response = client.post(
        "/account/", {"action": "delete_account", "password": PASSWORD}, follow=True
    )

    assert response.redirect_chain[-1][0] == "/"
    assert "Your account and everything in it were deleted" in response.content.decode()
    user.refresh_from_db()
    assert not user.is_active and user.email.endswith(f"@{DELETED_DOMAIN}")
    assert client.get("/account/").status_code == 302
    assert ledger_audit() == []
