"""Redelivery: a delivery's event sent again as a new delivery (its own id and log), with the
same payload, signed the same way; the original stays as it was; only the owner can."""

import json

import pytest

from studio.models import DeliveryStatus, WebhookDelivery
from studio.services.webhooks import delivery_attempt, verify
from tests.conftest import assert_error, login
from tests.factories import UserFactory
from tests.studio.webhooks.support import WEBHOOKS, pending_delivery

pytestmark = pytest.mark.django_db


def redeliver_path(webhook_id: str, delivery_id: str) -> str:
    return f"{WEBHOOKS}/{webhook_id}/deliveries/{delivery_id}/redeliver"


def test_redeliver_sends_the_same_event_again_as_a_new_signed_delivery(
    api, user, receiver, allow_private, django_capture_on_commit_callbacks
):
    webhook, secret, original_id = pending_delivery(user, receiver.url)
    delivery_attempt(delivery_id=original_id)  # delivered once
    client = login(api, user)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = client.post(redeliver_path(webhook.id, original_id))
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["id"] != original_id and body["status"] == "pending" and body["attempts"] == 0
    assert len(sent) == 1  # one message for the worker, after commit

    delivery_attempt(delivery_id=body["id"])
    first, second = receiver.requests
    assert first.body == second.body  # the same payload, byte for byte
    assert second.headers["webhook-id"] == body["id"]
    assert verify(secret, second.headers, second.body)
    assert json.loads(second.body)["event"] == "generation.completed"
    original = WebhookDelivery.objects.get(pk=original_id)
    assert original.status == DeliveryStatus.DELIVERED and original.attempts == 1
    assert WebhookDelivery.objects.get(pk=body["id"]).status == DeliveryStatus.DELIVERED


def test_redeliver_of_someone_elses_or_an_unknown_delivery_is_404(api, user, allow_private):
    webhook, _, delivery_id = pending_delivery(user, "http://127.0.0.1:9/hook")
    stranger = login(api, UserFactory())
    before = WebhookDelivery.objects.count()
    assert_error(stranger.post(redeliver_path(webhook.id, delivery_id)), 404, "NOT_FOUND")
    owner = login(api, user)
    assert_error(owner.post(redeliver_path(webhook.id, "msg_nope")), 404, "NOT_FOUND")
    assert_error(owner.post(redeliver_path("wh_other", delivery_id)), 404, "NOT_FOUND")
    assert WebhookDelivery.objects.count() == before


def test_redeliver_needs_a_token(api, user, allow_private):
    webhook, _, delivery_id = pending_delivery(user, "http://127.0.0.1:9/hook")
    assert_error(api.post(redeliver_path(webhook.id, delivery_id)), 401, "UNAUTHORIZED")
