"""Webhooks (seed: \"Webhooks\"): create, list, get, delete, and the URL guard."""

import base64
import re

import pytest

from studio.models import Webhook, WebhookDelivery
from studio.services.webhooks import (
    MAX_WEBHOOKS_PER_USER,
    DeliveryFailed,
    delivery_attempt,
    webhook_create,
    webhooks_emit,
)
from tests.conftest import SEED_TIME, assert_error
from tests.factories import UserFactory
from tests.studio.webhooks.support import (
    COMPLETED,
    FAILED,
    PUBLIC_URL,
    WEBHOOKS,
    pending_delivery,
)

pytestmark = pytest.mark.django_db


def test_create_returns_the_secret_once_and_never_again(user_api, user, allow_private):
    response = user_api.post(
        WEBHOOKS, {"url": PUBLIC_URL, "events": [FAILED, COMPLETED]}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "url", "events", "secret", "active", "createdAt"}
    assert re.fullmatch(r"wh_[0-9a-f]{24}", body["id"])
    assert body["url"] == PUBLIC_URL
    assert body["events"] == [COMPLETED, FAILED]
    assert body["active"] is True
    assert SEED_TIME.match(body["createdAt"])
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"), validate=True)) == 32
    webhook = Webhook.objects.get(pk=body["id"])
    assert webhook.user == user and webhook.secret == body["secret"]

    detail = user_api.get(f"{WEBHOOKS}/{body['id']}")
    listed = user_api.get(WEBHOOKS)

    assert detail.status_code == 200 and listed.status_code == 200
    assert "secret" not in detail.json()
    assert "secret" not in listed.json()["webhooks"][0]
    assert body["secret"] not in detail.content.decode() + listed.content.decode()


def test_two_webhooks_get_different_ids_and_secrets(user):
    first, first_secret = webhook_create(user=user, url=PUBLIC_URL, events=[COMPLETED])
    second, second_secret = webhook_create(user=user, url=PUBLIC_URL, events=[COMPLETED])

    assert first.id != second.id
    assert first_secret != second_secret


def test_create_without_a_token_is_401(api):
    response = api.post(WEBHOOKS, {"url": PUBLIC_URL, "events": [COMPLETED]}, format="json")

    assert_error(response, 401, "UNAUTHORIZED")
    assert Webhook.objects.count() == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",  # a name that resolves to loopback
        "http://localhost:8000/hook",
        "http://10.0.0.1/hook",
        "http://172.16.5.4/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://100.64.0.1/hook",  # shared address space (carrier NAT)
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",  # multicast
        "http://[::1]/hook",
        "http://[::]/hook",
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
        "http://[::ffff:169.254.169.254]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://[2002:7f00:1::]/hook",  # 6to4 wrapping 127.0.0.1
        "http://[fe80::1]/hook",  # link-local
        "http://[fd00::1]/hook",  # unique local (private)
        "https://[ff02::1]/hook",  # multicast
    ],
)
def test_urls_reaching_non_public_addresses_are_refused(user_api, guard_on, url):
    response = user_api.post(WEBHOOKS, {"url": url, "events": [COMPLETED]}, format="json")

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert set(body["details"]) == {"url"}
    assert "not allowed" in body["details"]["url"]
    assert body["error"] == body["details"]["url"]
    assert Webhook.objects.count() == 0


def test_refusal_names_the_address_a_host_resolves_to(user_api, guard_on):
    response = user_api.post(
        WEBHOOKS, {"url": "http://localhost:9000/x", "events": [COMPLETED]}, format="json"
    )

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert re.search(
        r"localhost resolves to (127\.0\.0\.1|::1) is a loopback address", body["error"]
    )


def test_unresolvable_host_is_refused(user_api, guard_on):
    response = user_api.post(
        WEBHOOKS, {"url": "https://no-such-host.invalid/hook", "events": [COMPLETED]}, format="json"
    )

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert body["details"] == {"url": "Webhook URL host no-such-host.invalid cannot be resolved"}
    assert Webhook.objects.count() == 0


@pytest.mark.parametrize(
    "url", [PUBLIC_URL, "http://8.8.8.8/hook", "https://[2606:4700:4700::1111]:8443/hook"]
)
def test_public_addresses_are_accepted_with_the_guard_on(user_api, guard_on, url):
    response = user_api.post(WEBHOOKS, {"url": url, "events": [COMPLETED]}, format="json")

    assert response.status_code == 201, response.content
    assert Webhook.objects.get().url == url


def test_the_setting_allows_private_addresses(user_api, allow_private):
    response = user_api.post(
        WEBHOOKS, {"url": "http://127.0.0.1:9000/hook", "events": [COMPLETED]}, format="json"
    )

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://example.com/hook", "must start with http:// or https://"),
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("javascript:alert(1)", "must start with http:// or https://"),
        ("example.com/hook", "must start with http:// or https://"),
        ("http://", "not a valid URL"),
        ("http://exa mple.com/", "not a valid URL"),
        ("http://example.com:99999/", "not a valid URL"),
        ("https://example.com/" + "a" * 1990, "2000 characters"),
    ],
)
def test_malformed_urls_are_400_naming_url(user_api, allow_private, url, message):
    response = user_api.post(WEBHOOKS, {"url": url, "events": [COMPLETED]}, format="json")

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert set(body["details"]) == {"url"}
    assert message in str(body["details"]["url"])
    assert Webhook.objects.count() == 0


@pytest.mark.parametrize("events", [[], ["generation.started"], [COMPLETED, "nope"], COMPLETED])
def test_events_must_be_a_non_empty_list_of_known_events(user_api, allow_private, events):
    response = user_api.post(WEBHOOKS, {"url": PUBLIC_URL, "events": events}, format="json")

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert set(body["details"]) == {"events"}
    assert Webhook.objects.count() == 0


def test_repeated_events_are_stored_once(user_api, allow_private):
    response = user_api.post(
        WEBHOOKS, {"url": PUBLIC_URL, "events": [COMPLETED, COMPLETED]}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["events"] == [COMPLETED]


def test_a_client_chosen_secret_is_refused_rather_than_ignored(user_api, allow_private):
    response = user_api.post(
        WEBHOOKS,
        {"url": PUBLIC_URL, "events": [COMPLETED], "secret": "your-webhook-secret"},
        format="json",
    )

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert set(body["details"]) == {"secret"}
    assert Webhook.objects.count() == 0


def test_a_user_has_at_most_the_cap_of_webhooks(user_api, user, allow_private):
    for _ in range(MAX_WEBHOOKS_PER_USER):
        webhook_create(user=user, url=PUBLIC_URL, events=[COMPLETED])

    response = user_api.post(WEBHOOKS, {"url": PUBLIC_URL, "events": [COMPLETED]}, format="json")

    body = assert_error(response, 400, "INVALID_REQUEST")
    assert body["details"] == {"limit": MAX_WEBHOOKS_PER_USER}
    assert f"at most {MAX_WEBHOOKS_PER_USER} webhooks" in body["error"]
    assert Webhook.objects.filter(user=user).count() == MAX_WEBHOOKS_PER_USER
    # The cap is per user.
    other = UserFactory()
    webhook_create(user=other, url=PUBLIC_URL, events=[COMPLETED])


def test_list_is_paginated_newest_first_and_only_mine(user_api, user):
    made = [
        webhook_create(user=user, url=f"{PUBLIC_URL}/{n}", events=[COMPLETED])[0] for n in "abc"
    ]
    webhook_create(user=UserFactory(), url=PUBLIC_URL, events=[COMPLETED])

    first = user_api.get(WEBHOOKS, {"limit": 2})
    second = user_api.get(WEBHOOKS, {"limit": 2, "page": 2})

    assert first.status_code == 200, first.content
    assert [w["id"] for w in first.json()["webhooks"]] == [made[2].id, made[1].id]
    assert first.json()["pagination"] == {
        "page": 1,
        "limit": 2,
        "total": 3,
        "pages": 2,
        "hasNext": True,
        "hasPrev": False,
    }
    assert [w["id"] for w in second.json()["webhooks"]] == [made[0].id]
    assert second.json()["pagination"]["hasPrev"] is True
    assert set(second.json()["webhooks"][0]) == {"id", "url", "events", "active", "createdAt"}


def test_list_rejects_a_limit_over_100(user_api):
    assert_error(user_api.get(WEBHOOKS, {"limit": 101}), 400, "INVALID_REQUEST")


def test_delete_removes_the_webhook_and_its_deliveries(user_api, user):
    webhook, _, delivery_id = pending_delivery(user, PUBLIC_URL)

    response = user_api.delete(f"{WEBHOOKS}/{webhook.id}")

    assert response.status_code == 200, response.content
    assert response.json() == {"message": "Webhook deleted"}
    assert not Webhook.objects.filter(pk=webhook.id).exists()
    assert not WebhookDelivery.objects.filter(pk=delivery_id).exists()
    assert_error(user_api.get(f"{WEBHOOKS}/{webhook.id}"), 404, "NOT_FOUND")
    assert_error(user_api.delete(f"{WEBHOOKS}/{webhook.id}"), 404, "NOT_FOUND")


def test_another_users_webhook_is_404_on_get_and_delete(user_api):
    theirs, _ = webhook_create(user=UserFactory(), url=PUBLIC_URL, events=[COMPLETED])

    get = user_api.get(f"{WEBHOOKS}/{theirs.id}")
    delete = user_api.delete(f"{WEBHOOKS}/{theirs.id}")

    assert_error(get, 404, "NOT_FOUND")
    assert_error(delete, 404, "NOT_FOUND")
    assert get.json()["error"] == delete.json()["error"] == "Webhook not found"
    assert Webhook.objects.filter(pk=theirs.id).exists()


def test_detail_summarises_the_last_10_deliveries(user_api, user, receiver, allow_private):
    webhook, _ = webhook_create(user=user, url=receiver.url, events=[COMPLETED])
    ids = [webhooks_emit(user=user, event=COMPLETED, data={"n": n})[0].id for n in range(12)]
    receiver.answer(503)
    with pytest.raises(DeliveryFailed):
        delivery_attempt(delivery_id=ids[-1])
    delivery_attempt(delivery_id=ids[-1])
    delivery_attempt(delivery_id=ids[-2])

    body = user_api.get(f"{WEBHOOKS}/{webhook.id}").json()

    assert set(body) == {"id", "url", "events", "active", "createdAt", "deliveries"}
    deliveries = body["deliveries"]
    assert len(deliveries) == 10
    assert {d["id"] for d in deliveries} == set(ids[2:])  # the newest ten
    by_id = {d["id"]: d for d in deliveries}
    assert by_id[ids[-1]]["status"] == "delivered"
    assert by_id[ids[-1]]["attempts"] == 2
    assert by_id[ids[-1]]["lastStatusCode"] == 200
    assert SEED_TIME.match(by_id[ids[-1]]["deliveredAt"])
    assert by_id[ids[2]] | {"createdAt": None} == {
        "id": ids[2],
        "event": COMPLETED,
        "status": "pending",
        "attempts": 0,
        "lastStatusCode": None,
        "lastError": None,
        "createdAt": None,
        "deliveredAt": None,
    }
