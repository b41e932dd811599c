"""Receivers (HTTP servers on 127.0.0.1) and helpers of the webhook tests."""

import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from studio.models import Webhook, WebhookAttempt
from studio.services.webhooks import (
    webhook_create,
    webhooks_emit,
)
from studio.tasks import deliver_webhook

WEBHOOKS = "/api/v1/webhooks"


COMPLETED = "generation.completed"


FAILED = "generation.failed"


DATA = {
    "id": "img_1704067200_abc123def",
    "userId": "user-uuid",
    "type": "image",
    "status": "completed",
    "url": "https://craftframe.com/generated/image.jpg",
    "metadata": {"model": "flux-pro", "credits_used": 4},
}


PUBLIC_URL = "https://93.184.216.34/hooks/craftframe"  # a public address: no DNS needed


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
        self.answers: deque[tuple[int, dict, bytes]] = deque()
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

    def answer(self, *statuses: int, headers: dict | None = None, body: bytes = b"") -> None:
        self.answers.extend((status, headers or {}, body) for status in statuses)


class _ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {name.lower(): value for name, value in self.headers.items()}
        receiver.requests.append(Received(self.path, headers, body))
        if receiver.hold:
            receiver.release.wait(10)
        status, extra, answer = receiver.answers.popleft() if receiver.answers else (200, {}, b"")
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST  # a followed 302 would arrive as a GET

    def log_message(self, *args):
        pass


def pending_delivery(user, url: str, events=(COMPLETED,), data=DATA) -> tuple[Webhook, str, str]:
    """A webhook to `url` and one delivery of `data` to it, not yet attempted."""
    webhook, secret = webhook_create(user=user, url=url, events=list(events))
    (delivery,) = webhooks_emit(user=user, event=COMPLETED, data=data)
    return webhook, secret, delivery.id


def attempts_of(delivery_id: str) -> list[tuple[int | None, str]]:
    rows = WebhookAttempt.objects.filter(delivery_id=delivery_id).order_by("id")
    return [(row.status_code, row.error) for row in rows]


QUEUE = deliver_webhook.queue_name


@pytest.fixture
def receiver():
    """A running Receiver for one test (import it where a test module needs it)."""
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.release.set()
    receiver.server.shutdown()
    receiver.server.server_close()
