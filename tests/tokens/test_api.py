"""The credits API: GET/PUT /tokens, GET /tokens/operations, POST /tokens/estimate."""

import pytest

from tests.conftest import assert_error, login
from tests.factories import UserFactory, staff_user
from tokens.audit import ledger_audit
from tokens.models import EntryKind, LedgerEntry, TokenAccount
from tokens.services import hold_capture, hold_create, tokens_grant

pytestmark = pytest.mark.django_db

TOKENS = "/api/v1/tokens"
OPERATIONS = "/api/v1/tokens/operations"
ESTIMATE = "/api/v1/tokens/estimate"


def numbers(account: TokenAccount) -> tuple[int, int]:
    account.refresh_from_db()
    return account.balance, account.held


# --- GET /tokens ----------------------------------------------------------------------------


def test_balance_held_and_available(user_api, user):
    hold_create(account=user.token_account, amount=12, operation="image_generation")

    response = user_api.get(TOKENS)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["balance"], body["held"], body["available"]) == (50, 12, 38)
    assert body["next_refill"].endswith("T00:00:00.000Z")
    assert {"period_start", "history", "pagination"} <= set(body)


def test_history_is_newest_first(user_api, user):
    account = user.token_account
    tokens_grant(account=account, amount=5, memo="first")
    hold_capture(hold=hold_create(account=account, amount=3, operation="sdxl"))

    history = user_api.get(TOKENS).json()["history"]

    assert [(e["kind"], e["amount"]) for e in history] == [
        ("capture", -3),
        ("hold", 0),
        ("grant", 5),
        ("grant", 50),
    ]
    ids = [e["id"] for e in history]
    assert ids == sorted(ids, reverse=True)
    newest = history[0]
    assert (newest["held_delta"], newest["balance_after"], newest["held_after"]) == (-3, 52, 0)
    assert set(newest) == {
        "id",
        "kind",
        "amount",
        "held_delta",
        "balance_after",
        "held_after",
        "memo",
        "subject",
        "createdAt",
    }


def test_history_is_paginated(user_api, user):
    for n in range(1, 5):
        tokens_grant(account=user.token_account, amount=n, memo=f"grant {n}")
    # 5 entries: the signup grant and grants of 1..4.

    first = user_api.get(TOKENS, {"limit": 2}).json()
    second = user_api.get(TOKENS, {"limit": 2, "page": 2}).json()
    last = user_api.get(TOKENS, {"limit": 2, "page": 3}).json()

    assert first["pagination"] == {
        "page": 1,
        "limit": 2,
        "total": 5,
        "pages": 3,
        "hasNext": True,
        "hasPrev": False,
    }
    assert [e["amount"] for e in first["history"]] == [4, 3]
    assert [e["amount"] for e in second["history"]] == [2, 1]
    assert second["pagination"]["hasNext"] and second["pagination"]["hasPrev"]
    assert [e["amount"] for e in last["history"]] == [50]
    assert (last["pagination"]["hasNext"], last["pagination"]["hasPrev"]) == (False, True)


def test_history_defaults_to_page_1_of_20(user_api):
    pagination = user_api.get(TOKENS).json()["pagination"]

    assert pagination == {
        "page": 1,
        "limit": 20,
        "total": 1,
        "pages": 1,
        "hasNext": False,
        "hasPrev": False,
    }


def test_page_past_the_end_is_an_empty_list(user_api):
    response = user_api.get(TOKENS, {"page": 9})

    assert response.status_code == 200
    body = response.json()
    assert body["history"] == []
    assert body["pagination"]["total"] == 1
    assert body["pagination"]["hasNext"] is False


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"page": 0}, "page"),
        ({"page": "x"}, "page"),
    ],
)
def test_bad_page_or_limit_returns_400(user_api, params, field):
    response = user_api.get(TOKENS, params)

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert field in body["details"]


def test_limit_of_100_is_allowed(user_api):
    response = user_api.get(TOKENS, {"limit": 100})

    assert response.status_code == 200
    assert response.json()["pagination"]["limit"] == 100


def test_history_filters_by_kind(user_api, user):
    account = user.token_account
    hold_create(account=account, amount=4, operation="flux-pro")
    tokens_grant(account=account, amount=10, memo="bonus")

    body = user_api.get(TOKENS, {"kind": "hold"}).json()

    assert [(e["kind"], e["held_delta"]) for e in body["history"]] == [("hold", 4)]
    assert body["pagination"]["total"] == 1


def test_unknown_kind_returns_400(user_api):
    body = assert_error(user_api.get(TOKENS, {"kind": "gift"}), 400, "INVALID_REQUEST")

    assert "kind" in body["details"]


def test_history_shows_only_the_signed_in_users_entries(user_api, user):
    other = UserFactory(credits=999)
    tokens_grant(account=other.token_account, amount=1, memo="someone else's")

    body = user_api.get(TOKENS).json()

    assert body["balance"] == 50
    assert [e["amount"] for e in body["history"]] == [50]


def test_tokens_requires_authentication(api):
    assert_error(api.get(TOKENS), 401, "UNAUTHORIZED")


# --- PUT /tokens (staff) --------------------------------------------------------------------


@pytest.fixture
def staff_api(api):
    return login(api, staff_user())


def grant(client, **payload):
    return client.put(TOKENS, {"reason": "support ticket 42", **payload}, format="json")


def test_non_staff_cannot_grant_and_nothing_changes(user_api, user):
    target = UserFactory()
    entries = LedgerEntry.objects.count()

    response = grant(user_api, user=target.email, amount=500)

    assert_error(response, 403, "FORBIDDEN")
    assert numbers(target.token_account) == (50, 0)
    assert numbers(user.token_account) == (50, 0)
    assert LedgerEntry.objects.count() == entries


def test_anonymous_cannot_grant(api):
    target = UserFactory()

    response = grant(api, user=target.email, amount=500)

    assert_error(response, 401, "UNAUTHORIZED")
    assert numbers(target.token_account) == (50, 0)


def test_staff_grants_by_email_with_the_actor_recorded(staff_api):
    target = UserFactory()

    response = grant(staff_api, user=target.email.upper(), amount=25)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["balance"], body["held"], body["available"]) == (75, 0, 75)
    assert (body["entry"]["kind"], body["entry"]["amount"]) == ("grant", 25)
    assert body["entry"]["memo"] == "support ticket 42"
    assert numbers(target.token_account) == (75, 0)
    entry = target.token_account.entries.get(pk=body["entry"]["id"])
    assert entry.actor is not None and entry.actor.is_staff
    assert ledger_audit() == []


def test_staff_grants_by_id(staff_api):
    target = UserFactory()

    response = grant(staff_api, user=str(target.pk), amount=10, kind="purchase")

    assert response.status_code == 200, response.content
    assert response.json()["entry"]["kind"] == "purchase"
    assert numbers(target.token_account) == (60, 0)


def test_staff_adjusts_down(staff_api):
    target = UserFactory()

    response = grant(staff_api, user=target.email, amount=-20, kind="adjust")

    assert response.status_code == 200, response.content
    assert response.json()["balance"] == 30
    assert numbers(target.token_account) == (30, 0)
    entry = target.token_account.entries.get(kind=EntryKind.ADJUST)
    assert (entry.amount, entry.balance_after) == (-20, 30)
    assert entry.actor is not None


def test_adjust_below_what_is_held_returns_403_and_changes_nothing(staff_api):
    target = UserFactory()
    hold_create(account=target.token_account, amount=40, operation="generative_upscale")

    response = grant(staff_api, user=target.email, amount=-20, kind="adjust")

    body = assert_error(response, 403, "INSUFFICIENT_CREDITS")
    assert body["details"]["available"] == 10
    assert body["details"]["required"] == 20
    assert numbers(target.token_account) == (50, 40)
    assert not target.token_account.entries.filter(kind=EntryKind.ADJUST).exists()


def test_negative_grant_without_kind_adjust_returns_400(staff_api):
    target = UserFactory()

    response = grant(staff_api, user=target.email, amount=-5)

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert "amount" in body["details"]
    assert numbers(target.token_account) == (50, 0)


def test_grant_to_an_unknown_user_returns_404(staff_api):
    entries = LedgerEntry.objects.count()

    for who in ("ghost@example.com", "0b6c1f4e-8f0e-4c1e-9f5e-2d7f1f2d9c11"):
        assert_error(grant(staff_api, user=who, amount=5), 404, "NOT_FOUND")

    assert LedgerEntry.objects.count() == entries


def test_repeated_idempotency_key_grants_once(staff_api):
    target = UserFactory()

    first = grant(staff_api, user=target.email, amount=30, idempotency_key="ticket-42")
    second = grant(staff_api, user=target.email, amount=30, idempotency_key="ticket-42")

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["entry"]["id"] == second.json()["entry"]["id"]
    assert second.json()["balance"] == 80
    assert numbers(target.token_account) == (80, 0)
    assert target.token_account.entries.count() == 2


def test_same_idempotency_key_with_a_different_amount_returns_409(staff_api):
    target = UserFactory()
    grant(staff_api, user=target.email, amount=30, idempotency_key="ticket-42")

    response = grant(staff_api, user=target.email, amount=31, idempotency_key="ticket-42")

    assert_error(response, 409, "IDEMPOTENCY_CONFLICT")
    assert numbers(target.token_account) == (80, 0)


# --- GET /tokens/operations -----------------------------------------------------------------

SEED_COSTS = {
    ("image_generation", "flux-pro"): 4,
    ("image_generation", "flux-dev"): 3,
    ("image_generation", "sdxl"): 3,
    ("image_generation", "huggingface"): 4,
    ("video_generation", "huggingface"): 5,
    ("video_generation", "pika"): 4,
    ("video_generation", "luma"): 4,
    ("video_generation", "runway"): 5,
    ("raster_generation", None): 4,
    ("vector_generation", None): 8,
    ("vector_illustration", None): 8,
    ("vectorization", None): 4,
    ("background_removal", None): 4,
    ("clarity_upscale", None): 4,
    ("generative_upscale", None): 80,
    ("style_creation", None): 4,
}


def test_operations_lists_every_seed_cost_and_works_anonymously(api):
    response = api.get(OPERATIONS)

    assert response.status_code == 200, response.content
    operations = response.json()["operations"]
    assert {(o["operation"], o["model"]): o["cost"] for o in operations} == SEED_COSTS
    assert len(operations) == len(SEED_COSTS)
    assert all({"unit", "description"} <= set(o) for o in operations)


# --- POST /tokens/estimate ------------------------------------------------------------------


def test_estimate_is_unit_cost_times_quantity_and_charges_nothing(user_api, user):
    entries = LedgerEntry.objects.count()

    response = user_api.post(
        ESTIMATE, {"operation": "image_generation", "model": "sdxl", "quantity": 3}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json() == {
        "operation": "image_generation",
        "model": "sdxl",
        "unit_cost": 3,
        "quantity": 3,
        "cost": 9,
        "available": 50,
        "sufficient": True,
    }
    assert LedgerEntry.objects.count() == entries
    assert numbers(user.token_account) == (50, 0)


def test_estimate_says_insufficient_when_the_balance_does_not_cover_it(user_api, user):
    response = user_api.post(
        ESTIMATE, {"operation": "generative_upscale", "quantity": 1}, format="json"
    )

    body = response.json()
    assert (body["cost"], body["available"], body["sufficient"]) == (80, 50, False)
    assert numbers(user.token_account) == (50, 0)


def test_estimate_counts_held_credits_as_unavailable(user_api, user):
    hold_create(account=user.token_account, amount=48, operation="image_generation")

    body = user_api.post(ESTIMATE, {"operation": "video_generation"}, format="json").json()

    assert (body["model"], body["cost"], body["available"]) == ("huggingface", 5, 2)
    assert body["sufficient"] is False


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"operation": "teleportation"}, "operation"),
        ({"operation": "image_generation", "model": "dall-e"}, "model"),
        ({"operation": "video_generation", "model": "flux-pro"}, "model"),
    ],
)
def test_estimate_of_an_unknown_operation_or_model_returns_400(user_api, payload, field):
    entries = LedgerEntry.objects.count()

    response = user_api.post(ESTIMATE, payload, format="json")

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert body["details"]["field"] == field
    assert LedgerEntry.objects.count() == entries


def test_estimate_requires_authentication(api):
    response = api.post(ESTIMATE, {"operation": "vectorization"}, format="json")

    assert_error(response, 401, "UNAUTHORIZED")
