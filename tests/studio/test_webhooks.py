"""Webhooks (seed: "Webhooks"): configuration, the URL guard, events, signed delivery with
retries, and the actor run by a real Dramatiq worker.

Receivers are HTTP servers on 127.0.0.1 started by the tests; tests that deliver to them turn
WEBHOOKS_ALLOW_PRIVATE on, the guard tests turn it off.
"""

import base64
import hashlib
import hmac
import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dramatiq
import pytest
from django.db import transaction

from studio.models import DeliveryStatus, Webhook, WebhookAttempt, WebhookDelivery
from studio.services.webhooks import (
    MAX_WEBHOOKS_PER_USER,
    DeliveryFailed,
    UnsafeWebhookURL,
    delivery_attempt,
    guarded_session,
    sign,
    verify,
    webhook_create,
    webhooks_emit,
)
from studio.tasks import deliver_webhook
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

WEBHOOKS = "/api/v1/webhooks"
COMPLETED = "generation.completed"
FAILED = "generation.failed"
SEED_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DATA = {
    "id": "img_1704067200_abc123def",
    "userId": "user-uuid",
    "type": "image",
    "status": "completed",
    "url": "https://craftframe.com/generated/image.jpg",
    "metadata": {"model": "flux-pro", "credits_used": 4},
}
PUBLIC_URL = "https://93.184.216.34/hooks/craftframe"  # a public address: no DNS needed


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "code", "details", "timestamp", "requestId"}
    assert body["code"] == code
    return body


# --- The receiver ---------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


class Receiver:
    """A local webhook endpoint: records each request, answers with programmed statuses
    (200 when none are left), and can hold its answer until `release` is set."""

    def __init__(self):
        self.requests: list[Received] = []
        self.answers: deque[tuple[int, dict]] = deque()
        self.hold = False
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _ReceiverHandler)
        self.server.daemon_threads = True
        self.server.receiver = self
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def answer(self, *statuses: int, headers: dict | None = None) -> None:
        self.answers.extend((status, headers or {}) for status in statuses)


class _ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {name.lower(): value for name, value in self.headers.items()}
        receiver.requests.append(Received(self.path, headers, body))
        if receiver.hold:
            receiver.release.wait(10)
        status, extra = receiver.answers.popleft() if receiver.answers else (200, {})
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST  # a followed 302 would arrive as a GET

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.release.set()
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def allow_private(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True


@pytest.fixture
def guard_on(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False


def pending_delivery(user, url: str, events=(COMPLETED,), data=DATA) -> tuple[Webhook, str, str]:
    """A webhook to `url` and one delivery of `data` to it, not yet attempted."""
    webhook, secret = webhook_create(user=user, url=url, events=list(events))
    (delivery,) = webhooks_emit(user=user, event=COMPLETED, data=data)
    return webhook, secret, delivery.id


def attempts_of(delivery_id: str) -> list[tuple[int | None, str]]:
    rows = WebhookAttempt.objects.filter(delivery_id=delivery_id).order_by("id")
    return [(row.status_code, row.error) for row in rows]


# --- Configuration: create, list, get, delete -----------------------------------------------


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


# --- Emitting events ------------------------------------------------------------------------


def test_emit_queues_one_delivery_per_subscribed_active_webhook(
    user, django_capture_on_commit_callbacks
):
    both, _ = webhook_create(user=user, url=f"{PUBLIC_URL}/both", events=[COMPLETED, FAILED])
    done, _ = webhook_create(user=user, url=f"{PUBLIC_URL}/done", events=[COMPLETED])
    webhook_create(user=user, url=f"{PUBLIC_URL}/failed", events=[FAILED])
    paused, _ = webhook_create(user=user, url=f"{PUBLIC_URL}/paused", events=[COMPLETED])
    Webhook.objects.filter(pk=paused.pk).update(is_active=False)
    webhook_create(user=UserFactory(), url=PUBLIC_URL, events=[COMPLETED])

    with django_capture_on_commit_callbacks() as callbacks:
        deliveries = webhooks_emit(user=user, event=COMPLETED, data=DATA)

    assert {d.webhook_id for d in deliveries} == {both.id, done.id}
    assert WebhookDelivery.objects.count() == 2
    for delivery in deliveries:
        delivery.refresh_from_db()
        assert re.fullmatch(r"msg_[0-9a-f]{24}", delivery.id)
        assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 0
        assert set(delivery.payload) == {"event", "timestamp", "data"}
        assert delivery.payload["event"] == COMPLETED
        assert SEED_TIME.match(delivery.payload["timestamp"])
        assert delivery.payload["data"] == DATA
    # Enqueued after commit, by id.
    assert sorted((cb.func, cb.args) for cb in callbacks) == sorted(
        (deliver_webhook.send, (d.id,)) for d in deliveries
    )


def test_emit_enqueues_nothing_when_the_transaction_rolls_back(
    user, django_capture_on_commit_callbacks
):
    webhook_create(user=user, url=PUBLIC_URL, events=[COMPLETED])

    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        assert len(webhooks_emit(user=user, event=COMPLETED, data=DATA)) == 1
        raise RuntimeError("the generation's own write failed")

    assert callbacks == []
    assert WebhookDelivery.objects.count() == 0


def test_emit_without_subscribers_does_nothing(user, django_capture_on_commit_callbacks):
    webhook_create(user=user, url=PUBLIC_URL, events=[FAILED])

    with django_capture_on_commit_callbacks() as callbacks:
        assert webhooks_emit(user=user, event=COMPLETED, data=DATA) == []

    assert callbacks == []


def test_emit_refuses_an_unknown_event(user):
    with pytest.raises(ValueError):
        webhooks_emit(user=user, event="generation.started", data={})


# --- Delivery -------------------------------------------------------------------------------


def test_receiver_gets_the_seed_payload_signed_the_standard_webhooks_way(
    user, receiver, allow_private
):
    _, secret, delivery_id = pending_delivery(user, receiver.url)
    before = int(time.time())

    deliver_webhook.fn(delivery_id)

    (request,) = receiver.requests
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "CraftFrame-Webhooks/1"
    assert request.headers["webhook-id"] == delivery_id
    timestamp = request.headers["webhook-timestamp"]
    assert before <= int(timestamp) <= int(time.time())
    payload = json.loads(request.body)
    assert set(payload) == {"event", "timestamp", "data"}
    assert payload["event"] == COMPLETED and payload["data"] == DATA
    assert SEED_TIME.match(payload["timestamp"])

    # The signature, computed here from the spec rather than with our own sign().
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{delivery_id}.{timestamp}.".encode() + request.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert request.headers["webhook-signature"] == f"v1,{expected}"
    assert verify(secret, request.headers, request.body)
    assert not verify(secret, request.headers, request.body.replace(b"flux-pro", b"flux-dev"))
    assert not verify(secret, request.headers, request.body + b" ")
    other_secret = "whsec_" + base64.b64encode(b"x" * 32).decode()
    assert not verify(other_secret, request.headers, request.body)

    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 1
    assert delivery.delivered_at is not None
    (attempt,) = WebhookAttempt.objects.filter(delivery_id=delivery_id)
    assert (attempt.status_code, attempt.error) == (200, "")
    assert attempt.duration_ms >= 0


def test_a_500_is_retried_and_the_next_attempt_delivers(user, receiver, allow_private):
    _, _, delivery_id = pending_delivery(user, receiver.url)
    receiver.answer(500)

    with pytest.raises(DeliveryFailed):
        deliver_webhook.fn(delivery_id)

    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    (first,) = WebhookAttempt.objects.filter(delivery_id=delivery_id)
    assert first.status_code == 500 and first.error == ""
    assert first.duration_ms is not None and first.duration_ms >= 0

    deliver_webhook.fn(delivery_id)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert attempts_of(delivery_id) == [(500, ""), (200, "")]
    # The same message id each time, so receivers can drop duplicates.
    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivery_id, delivery_id]


def test_a_receiver_that_does_not_answer_in_time_is_logged_as_a_timeout(
    user, receiver, allow_private, settings
):
    settings.WEBHOOK_TIMEOUT = 0.2
    _, _, delivery_id = pending_delivery(user, receiver.url)
    receiver.hold = True  # answers only when released, after the test

    with pytest.raises(DeliveryFailed):
        delivery_attempt(delivery_id=delivery_id)

    (attempt,) = WebhookAttempt.objects.filter(delivery_id=delivery_id)
    assert (attempt.status_code, attempt.error) == (None, "timeout")
    assert 200 <= attempt.duration_ms < 5000
    assert WebhookDelivery.objects.get(pk=delivery_id).status == DeliveryStatus.PENDING


def test_the_last_allowed_failure_marks_the_delivery_failed_without_raising(
    user, receiver, allow_private, settings
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    _, _, delivery_id = pending_delivery(user, receiver.url)
    receiver.answer(500, 502, 404)

    for _ in range(2):
        with pytest.raises(DeliveryFailed):
            delivery_attempt(delivery_id=delivery_id)
    delivery_attempt(delivery_id=delivery_id)  # the third: no raise, so no further retry

    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 3)
    assert delivery.delivered_at is None
    assert attempts_of(delivery_id) == [(500, ""), (502, ""), (404, "")]

    delivery_attempt(delivery_id=delivery_id)  # a stray redelivery of the message

    assert len(receiver.requests) == 3
    assert WebhookAttempt.objects.filter(delivery_id=delivery_id).count() == 3


def test_a_redirect_is_not_followed(user, receiver, allow_private):
    _, _, delivery_id = pending_delivery(user, receiver.url)
    receiver.answer(302, headers={"Location": receiver.url + "/elsewhere"})

    with pytest.raises(DeliveryFailed):
        delivery_attempt(delivery_id=delivery_id)

    assert [r.path for r in receiver.requests] == ["/hook"]
    assert attempts_of(delivery_id) == [(302, "")]


def test_a_refused_connection_is_logged(user, allow_private):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _, _, delivery_id = pending_delivery(user, f"http://127.0.0.1:{port}/hook")

    with pytest.raises(DeliveryFailed):
        delivery_attempt(delivery_id=delivery_id)

    assert attempts_of(delivery_id) == [(None, "connection failed")]


def test_a_delivered_message_is_not_sent_again(user, receiver, allow_private):
    _, _, delivery_id = pending_delivery(user, receiver.url)
    delivery_attempt(delivery_id=delivery_id)

    delivery_attempt(delivery_id=delivery_id)  # Dramatiq delivers at least once

    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get(pk=delivery_id).attempts == 1


def test_a_deleted_webhook_gets_nothing(user, receiver, allow_private):
    webhook, _, delivery_id = pending_delivery(user, receiver.url)
    webhook.delete()

    delivery_attempt(delivery_id=delivery_id)

    assert receiver.requests == []


def test_the_url_is_checked_again_at_delivery_time(user, receiver, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    _, _, delivery_id = pending_delivery(user, receiver.url)
    settings.WEBHOOKS_ALLOW_PRIVATE = False  # e.g. its DNS now points inside

    with pytest.raises(DeliveryFailed):
        delivery_attempt(delivery_id=delivery_id)

    assert receiver.requests == []
    ((status_code, error),) = attempts_of(delivery_id)
    assert status_code is None
    assert "127.0.0.1 is a loopback address" in error


def test_the_connection_is_checked_where_it_lands(receiver, settings):
    # Past the URL check, DNS could answer differently (rebinding): the transport itself
    # refuses a connection that reached a non-public address, before sending anything.
    settings.WEBHOOKS_ALLOW_PRIVATE = False

    with pytest.raises(UnsafeWebhookURL), guarded_session() as session:
        session.post(receiver.url, data=b"{}", timeout=5)

    assert receiver.requests == []

    settings.WEBHOOKS_ALLOW_PRIVATE = True
    with guarded_session() as session:
        assert session.post(receiver.url, data=b"{}", timeout=5).status_code == 200
    assert len(receiver.requests) == 1


def test_https_connections_are_checked_before_the_tls_handshake(receiver, guard_on):
    https_url = receiver.url.replace("http://", "https://")

    with (
        pytest.raises(UnsafeWebhookURL, match=re.escape("127.0.0.1 is a loopback address")),
        guarded_session() as session,
    ):
        session.post(https_url, data=b"{}", timeout=5)

    assert receiver.requests == []


# --- Signatures -----------------------------------------------------------------------------

# The reference vector of Standard Webhooks (svix-webhooks go/webhook_test.go TestWebhookSign).
VECTOR = {
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "msg_id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "timestamp": "1614265330",
    "body": '{"test": 2432232314}',
}
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_sign_matches_the_standard_webhooks_reference_vector():
    assert sign(**VECTOR) == VECTOR_SIGNATURE
    assert sign(**{**VECTOR, "body": VECTOR["body"].encode()}) == VECTOR_SIGNATURE


def _headers(msg_id: str, timestamp: str, signature: str) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}


def test_verify_accepts_a_fresh_signature_and_refuses_a_stale_one():
    now = str(int(time.time()))
    fresh = sign(VECTOR["secret"], "msg_1", now, b"{}")
    stale_at = str(int(time.time()) - 301)
    stale = sign(VECTOR["secret"], "msg_1", stale_at, b"{}")

    assert verify(VECTOR["secret"], _headers("msg_1", now, fresh), b"{}")
    assert not verify(VECTOR["secret"], _headers("msg_1", stale_at, stale), b"{}")
    # The reference vector is from 2021: valid, but far outside the tolerance.
    old = _headers(VECTOR["msg_id"], VECTOR["timestamp"], VECTOR_SIGNATURE)
    assert not verify(VECTOR["secret"], old, VECTOR["body"])
    assert verify(VECTOR["secret"], old, VECTOR["body"], tolerance=10**10)


def test_verify_checks_every_header_and_accepts_any_listed_signature():
    now = str(int(time.time()))
    good = sign(VECTOR["secret"], "msg_1", now, b"{}")

    assert verify(VECTOR["secret"], _headers("msg_1", now, f"v1,bm90IGl0 {good}"), b"{}")
    upper = {name.title(): value for name, value in _headers("msg_1", now, good).items()}
    assert verify(VECTOR["secret"], upper, b"{}")
    assert not verify(VECTOR["secret"], _headers("msg_2", now, good), b"{}")
    assert not verify(VECTOR["secret"], _headers("msg_1", str(int(now) + 1), good), b"{}")
    assert not verify(VECTOR["secret"], _headers("msg_1", "soon", good), b"{}")
    assert not verify(VECTOR["secret"], {"webhook-id": "msg_1"}, b"{}")
    assert not verify("whsec_not base64!", _headers("msg_1", now, good), b"{}")


# --- Through a real Dramatiq worker ---------------------------------------------------------

QUEUE = deliver_webhook.queue_name


@pytest.fixture
def worker(transactional_db):
    """A worker on the configured broker (Redis when REDIS_URL is set), on the webhooks queue."""
    broker = dramatiq.get_broker()
    broker.flush(QUEUE)  # nothing left over from an earlier run
    worker = dramatiq.Worker(broker, queues={QUEUE}, worker_threads=1, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()
    # The worker registered a middleware that would start consumers for queues declared
    # later; drop it with the worker.
    broker.middleware[:] = [
        m for m in broker.middleware if getattr(m, "worker", None) is not worker
    ]
    broker.flush(QUEUE)


def drain(worker) -> None:
    worker.broker.join(QUEUE, timeout=30_000)
    worker.join()


def test_actor_retries_follow_the_attempts_setting(settings):
    assert deliver_webhook.options["max_retries"] == settings.WEBHOOK_MAX_ATTEMPTS - 1


@pytest.mark.django_db(transaction=True)
def test_an_emitted_event_is_delivered_by_a_worker_after_commit(worker, receiver, allow_private):
    user = UserFactory()
    _, secret = webhook_create(user=user, url=receiver.url, events=[COMPLETED])

    with transaction.atomic():
        (delivery,) = webhooks_emit(user=user, event=COMPLETED, data=DATA)
    drain(worker)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)
    (request,) = receiver.requests
    assert verify(secret, request.headers, request.body)
    assert json.loads(request.body)["data"] == DATA


@pytest.mark.django_db(transaction=True)
def test_a_worker_retries_a_failed_attempt_with_backoff(worker, receiver, allow_private):
    user = UserFactory()
    webhook, _ = webhook_create(user=user, url=receiver.url, events=[COMPLETED])
    delivery = WebhookDelivery.objects.create(
        id="msg_retry", webhook=webhook, event=COMPLETED, payload={"event": COMPLETED}
    )
    receiver.answer(503)

    # The actor's backoff, shortened for the test (production: 2 s doubling, up to 10 min).
    deliver_webhook.send_with_options(args=(delivery.id,), min_backoff=10, max_backoff=100)
    drain(worker)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert attempts_of(delivery.id) == [(503, ""), (200, "")]
    assert len(receiver.requests) == 2
