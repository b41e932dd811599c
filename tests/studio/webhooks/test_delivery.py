"""Webhook events, signed delivery with retries, the Standard Webhooks signature, and the
actor run by a real Dramatiq worker."""

import base64
import hashlib
import hmac
import json
import re
import socket
import time

import pytest
from django.db import transaction

from studio.models import DeliveryStatus, Webhook, WebhookAttempt, WebhookDelivery
from studio.services.webhooks import (
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
from tests.conftest import SEED_TIME
from tests.factories import UserFactory
from tests.studio.webhooks.support import (
    COMPLETED,
    DATA,
    FAILED,
    PUBLIC_URL,
    QUEUE,
    attempts_of,
    pending_delivery,
)

pytestmark = pytest.mark.django_db


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
    receiver.answer(500, body=b'{"error": "database is down"}' + b" " * 2000)

    with pytest.raises(DeliveryFailed):
        deliver_webhook.fn(delivery_id)

    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    (first,) = WebhookAttempt.objects.filter(delivery_id=delivery_id)
    assert first.status_code == 500 and first.error == ""
    # What the receiver said, its first 500 characters, for support to read in the admin.
    assert first.response_excerpt.startswith('{"error": "database is down"}')
    assert len(first.response_excerpt) == 500
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
