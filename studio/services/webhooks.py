"""Webhooks: configuration, events, and signed delivery (the Standard Webhooks scheme).

A delivery is one event for one endpoint. The `deliver_webhook` actor makes one attempt per
message; a failed attempt raises `DeliveryFailed` so Dramatiq retries it with backoff, and the
last allowed attempt marks the delivery failed instead. Every attempt is logged.
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from functools import partial
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from core import metrics
from core.exceptions import DomainError, NotFound
from core.serializers import iso
from organizations.models import MANAGERS
from organizations.workspace import Workspace, rows_of
from studio.models import (
    DeliveryStatus,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
)
from studio.selectors import WEBHOOK_MANAGERS, webhook_get

logger = logging.getLogger(__name__)

MAX_WEBHOOKS_PER_USER = 10
MAX_URL_LENGTH = 2000
SECRET_PREFIX = "whsec_"
USER_AGENT = "CraftFrame-Webhooks/1"


class InvalidWebhook(DomainError):
    code = "INVALID_REQUEST"
    http_status = 400
    message = "Invalid webhook"


class UnsafeWebhookURL(InvalidWebhook):
    """The URL leads (or may lead) somewhere inside our own network."""

    message = "Webhook URL is not allowed"


class WebhookLimitReached(InvalidWebhook):
    message = f"You can have at most {MAX_WEBHOOKS_PER_USER} webhooks; delete one first"


class DeliveryFailed(Exception):
    """An attempt that got no 2xx answer; raised so the actor is retried later."""


# --- The URL guard --------------------------------------------------------------------------


def _refusal(address: str) -> str | None:
    """Why `address` must not be called, or None when it is a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    if ip.version == 6:
        # An IPv4 address inside IPv6 (::ffff:127.0.0.1, 6to4) reaches that IPv4 address.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            ip = embedded
        elif ip.teredo:
            return "a tunnelled"
    for kind, flagged in (
        ("an unspecified", ip.is_unspecified),
        ("a loopback", ip.is_loopback),
        ("a link-local", ip.is_link_local),
        ("a multicast", ip.is_multicast),
        ("a private", ip.is_private),
        ("a reserved", ip.is_reserved),
        ("a non-public", not ip.is_global),  # e.g. 100.64.0.0/10, shared address space
    ):
        if flagged:
            return kind
    return None


def address_check(address: str, *, host: str | None = None) -> None:
    """Refuse a loopback, private, link-local, multicast, reserved or unspecified address."""
    if settings.WEBHOOKS_ALLOW_PRIVATE:
        return
    kind = _refusal(address)
    if kind is not None:
        via = f"{host} resolves to {address}" if host and host != address else address
        message = f"Webhook URL is not allowed: {via} is {kind} address"
        raise UnsafeWebhookURL(message, url=message)


def url_check(url: str) -> None:
    """Validate a webhook URL and, unless WEBHOOKS_ALLOW_PRIVATE, every address it resolves to."""

    def invalid(message: str) -> InvalidWebhook:
        return InvalidWebhook(message, url=message)

    if len(url) > MAX_URL_LENGTH:
        raise invalid(f"Webhook URL is longer than {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise invalid("Webhook URL must start with http:// or https://")
    try:
        URLValidator(schemes=["http", "https"])(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except (ValidationError, ValueError):
        raise invalid("Webhook URL is not a valid URL") from None
    host = parts.hostname
    if not host:
        raise invalid("Webhook URL has no host")
    if settings.WEBHOOKS_ALLOW_PRIVATE:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        message = f"Webhook URL host {host} cannot be resolved"
        raise UnsafeWebhookURL(message, url=message) from None
    # Every address, not just the first: the client may connect to any of them.
    for info in infos:
        address_check(info[4][0], host=host)


class _PeerCheckMixin:
    """Check the address a connection actually reached, before anything is sent.

    The URL is checked before each attempt, but DNS may answer differently a moment later
    (rebinding); this closes that gap.
    """

    def _new_conn(self):
        sock = super()._new_conn()
        try:
            address_check(sock.getpeername()[0], host=self.host)
        except UnsafeWebhookURL:
            sock.close()
            raise
        return sock


class _CheckedHTTPConnection(_PeerCheckMixin, HTTPConnection):
    pass


class _CheckedHTTPSConnection(_PeerCheckMixin, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _CheckedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _CheckedHTTPPool,
            "https": _CheckedHTTPSPool,
        }


def guarded_session() -> requests.Session:
    """A requests session whose connections refuse non-public addresses (see address_check)."""
    session = requests.Session()
    # No proxies or .netrc from the environment: the request must go where it was checked.
    session.trust_env = False
    adapter = _CheckedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# --- Signatures (Standard Webhooks) ---------------------------------------------------------


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: str, body: bytes | str) -> str:
    """`v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">` keyed by the decoded secret."""
    if isinstance(body, str):
        body = body.encode()
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str, headers: Mapping[str, str], body: bytes | str, tolerance: int = 300
) -> bool:
    """The receiver's check: a valid signature over this exact body, made in the last
    `tolerance` seconds (which limits replays)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    timestamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not (msg_id and timestamp.isdigit() and signatures):
        return False
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    try:
        expected = sign(secret, msg_id, timestamp, body).encode()
    except (ValueError, TypeError):  # a secret that is not base64
        return False
    # The header may carry several space-separated signatures (e.g. during a secret rotation).
    return any(hmac.compare_digest(expected, sig.encode()) for sig in signatures.split())


# --- Configuration --------------------------------------------------------------------------


def _events_clean(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(WebhookEvent.values))
    if unknown:
        message = f"Unknown event(s): {', '.join(unknown)}"
        raise InvalidWebhook(message, events=message)
    if not events:
        message = f"Choose at least one event: {', '.join(WebhookEvent.values)}"
        raise InvalidWebhook(message, events=message)
    return [event for event in WebhookEvent.values if event in events]


def webhook_create(
    *, user, url: str, events: list[str], workspace: Workspace | None = None
) -> tuple[Webhook, str]:
    """Register an endpoint for the workspace's jobs (default: the user's own; an
    organization's is for its owners and admins); returns it with its secret, which is shown
    once."""
    workspace = workspace or Workspace(user)
    workspace.require(MANAGERS, WEBHOOK_MANAGERS)
    url = url.strip()
    events = _events_clean(events)
    url_check(url)  # DNS: outside the transaction
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
    with transaction.atomic():
        # Lock the user's row so two concurrent creates cannot both slip under the cap.
        get_user_model().objects.select_for_update().only("pk").get(pk=user.pk)
        if Webhook.objects.filter(workspace.rows()).count() >= MAX_WEBHOOKS_PER_USER:
            raise WebhookLimitReached(limit=MAX_WEBHOOKS_PER_USER)
        webhook = Webhook(
            id="wh_" + secrets.token_hex(12),
            user=user,
            organization=workspace.organization,
            url=url,
            events=events,
            secret=secret,
        )
        try:
            webhook.full_clean()
        except ValidationError as exc:
            details = {field: " ".join(messages) for field, messages in exc.message_dict.items()}
            raise InvalidWebhook(f"Invalid webhook: {exc.messages[0]}", **details) from None
        webhook.save(force_insert=True)
    return webhook, secret


def webhook_delete(*, user, webhook_id: str) -> None:
    """Delete one of the user's webhooks (or of an organization they manage) with its
    delivery log; queued attempts then do nothing."""
    webhook = webhook_get(user=user, webhook_id=webhook_id)
    deleted, _ = Webhook.objects.filter(pk=webhook.pk).delete()
    if not deleted:
        raise NotFound("Webhook not found")


# --- Events and delivery --------------------------------------------------------------------


def webhooks_emit(
    *, user, event: str, data: dict | Callable[[], dict], organization_id=None
) -> list[WebhookDelivery]:
    """Queue `event` for each active webhook subscribed to it of the workspace it happened in:
    the organization's (`organization_id`), or else the user's (a User or its id) own.

    Call it inside the transaction that records what happened: the messages are sent only if
    it commits. `data` must be JSON-serializable; pass a callable to build it only when some
    webhook wants it (most users have none, and the data may cost a signed URL).
    """
    from studio.tasks import deliver_webhook  # studio.tasks imports this module

    if event not in WebhookEvent.values:
        raise ValueError(f"unknown webhook event {event!r}")
    # Filtered here rather than with a JSON `contains` lookup, which SQLite lacks; a user
    # has at most MAX_WEBHOOKS_PER_USER webhooks.
    where = rows_of(user=user, organization_id=organization_id)
    webhooks = [w for w in Webhook.objects.filter(where, is_active=True) if event in w.events]
    if not webhooks:
        return []
    if callable(data):
        data = data()
    payload = {"event": event, "timestamp": iso(timezone.now()), "data": data}
    deliveries = []
    with transaction.atomic():
        for webhook in webhooks:
            delivery = WebhookDelivery.objects.create(
                id="msg_" + secrets.token_hex(12), webhook=webhook, event=event, payload=payload
            )
            # robust: a broker hiccup must not fail the caller after its work committed.
            transaction.on_commit(partial(deliver_webhook.send, delivery.id), robust=True)
            deliveries.append(delivery)
    return deliveries


def delivery_redeliver(*, user, webhook_id: str, delivery_id: str) -> WebhookDelivery:
    """Send an event again as a new delivery (its own id, attempts and log), with the same
    payload and the same signature scheme; the original's record stays as it was."""
    from studio.tasks import deliver_webhook

    webhook = webhook_get(user=user, webhook_id=webhook_id)
    original = (
        WebhookDelivery.objects.select_related("webhook")
        .filter(pk=delivery_id, webhook_id=webhook.pk)
        .first()
    )
    if original is None:
        raise NotFound("Delivery not found")
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            id="msg_" + secrets.token_hex(12),
            webhook=original.webhook,
            event=original.event,
            payload=original.payload,
        )
        transaction.on_commit(partial(deliver_webhook.send, delivery.id), robust=True)
    return delivery


def _finish(delivery_id: str, status: str) -> None:
    fields = {"status": status}
    if status == DeliveryStatus.DELIVERED:
        fields["delivered_at"] = timezone.now()
    pending = WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING)
    if pending.update(**fields):  # counted once, by whoever finished it
        metrics.webhook_delivery(status)


# The first bytes of a receiver's answer are kept on the attempt, for support to read.
RESPONSE_EXCERPT = 500


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST and return the status code and the start of the answer's body."""
    with (
        guarded_session() as session,
        session.post(
            url,
            data=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT,
            allow_redirects=False,  # a redirect could lead anywhere, past the URL guard
            stream=True,  # only the answer's first bytes are read: its status is what counts
        ) as response,
    ):
        start = response.raw.read(RESPONSE_EXCERPT, decode_content=True) or b""
        return response.status_code, start.decode("utf-8", errors="replace")


def _describe(exc: Exception) -> str:
    if isinstance(exc, InvalidWebhook):
        return exc.message
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return f"request failed: {type(exc).__name__}"


def delivery_attempt(*, delivery_id: str) -> None:
    """One signed POST of a pending delivery. Raises DeliveryFailed while attempts remain."""
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return  # deleted with its webhook, or finished by an earlier copy of this message
    webhook = delivery.webhook
    if not webhook.is_active:
        _finish(delivery_id, DeliveryStatus.FAILED)
        return
    max_attempts = settings.WEBHOOK_MAX_ATTEMPTS
    # Counted on the row: a message redelivered after its worker died comes back without
    # Dramatiq's retry count.
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, attempts__lt=max_attempts
    ).update(attempts=F("attempts") + 1)
    if not claimed:
        _finish(delivery_id, DeliveryStatus.FAILED)  # every attempt was spent
        return
    attempt = WebhookDelivery.objects.values_list("attempts", flat=True).get(pk=delivery_id)

    # Serialized once: the signature covers exactly the bytes sent.
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": delivery.id,
        "webhook-timestamp": timestamp,
        "webhook-signature": sign(webhook.secret, delivery.id, timestamp, body),
    }
    status_code, error, answer = None, "", ""
    started = time.monotonic()
    try:
        url_check(webhook.url)  # again: DNS may have changed since the webhook was created
        status_code, answer = _post(webhook.url, body, headers)
    except (InvalidWebhook, requests.RequestException) as exc:
        error = _describe(exc)
    duration_ms = int((time.monotonic() - started) * 1000)

    try:
        with transaction.atomic():
            WebhookAttempt.objects.create(
                delivery_id=delivery_id,
                status_code=status_code,
                duration_ms=duration_ms,
                error=error[:500],
                response_excerpt=answer[:RESPONSE_EXCERPT],
            )
    except IntegrityError:
        return  # the webhook was deleted while we were sending
    if status_code is not None and 200 <= status_code < 300:
        _finish(delivery_id, DeliveryStatus.DELIVERED)
        return
    outcome = error or f"HTTP {status_code}"
    if attempt < max_attempts:
        metrics.webhook_delivery("retrying")
        raise DeliveryFailed(f"{delivery_id}: attempt {attempt}/{max_attempts}: {outcome}")
    logger.warning(
        "webhook delivery %s failed after %s attempts: %s", delivery_id, attempt, outcome
    )
    _finish(delivery_id, DeliveryStatus.FAILED)
