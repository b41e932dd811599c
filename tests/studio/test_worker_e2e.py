"""End to end on the real parts: PostgreSQL, Redis (Dramatiq's broker), SeaweedFS (S3), and a
separate `manage.py rundramatiq` worker process running production settings.

The test process plays the web tier (the API through Django's test client, with the same
database, broker namespace and bucket); the worker is its own process group, so it can be
SIGKILLed like a crashed machine.
"""

import io
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import pytest
import requests
from django.conf import settings as django_settings
from PIL import Image

from studio.models import Generation, Status
from studio.services.sweeper import generations_sweep
from studio.services.webhooks import verify
from tests.conftest import login
from tests.factories import UserFactory
from tests.fakes.huggingface import FakeHuggingFace
from tests.fakes.processes import Program, free_port
from tests.fakes.servers import HANG, HF_TOKEN
from tests.studio.conftest import FINISHED, wait_until_finished
from tokens.audit import ledger_audit
from tokens.models import EntryKind

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.s3,
    pytest.mark.django_db(transaction=True),
]


class Receiver:
    """A webhook receiver: records deliveries, signals each one."""

    def __init__(self):
        self.deliveries: list[tuple[dict, bytes]] = []
        self.arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.arrived:
                    outer.deliveries.append((dict(self.headers), body))
                    outer.arrived.notify_all()
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def wait_for(self, count: int, timeout: float) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.deliveries) >= count, timeout)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    hooks = Receiver()
    yield hooks
    hooks.close()


def entries(generation_id: str) -> list[str]:
    hold = Generation.objects.get(pk=generation_id).hold
    return sorted(hold.entries.values_list("kind", flat=True))


def test_an_image_goes_api_to_broker_to_worker_to_s3_and_back(
    api, worker_env, start_worker, receiver
):
    user = UserFactory(credits=50)
    client = login(api, user)
    hook = client.post(
        "/api/v1/webhooks",
        {"url": receiver.url, "events": ["generation.completed"]},
        format="json",
    ).json()
    start_worker({**worker_env, "IMAGE_PROVIDERS": "local"})

    accepted = client.post(
        "/api/v1/studio/generate-image",
        {"prompt": "A lighthouse on a cliff at sunset", "size": "1920x1080", "category": "anime"},
        format="json",
    )
    assert accepted.status_code == 202, accepted.content
    generation_id = accepted.json()["id"]

    # The worker's webhook tells us it finished: no polling needed for this one.
    assert receiver.wait_for(1, timeout=120), "no generation.completed webhook arrived"
    headers, raw = receiver.deliveries[0]
    assert verify(hook["secret"], {k.lower(): v for k, v in headers.items()}, raw)
    payload = json.loads(raw)
    assert payload["event"] == "generation.completed"
    assert payload["data"]["id"] == generation_id and payload["data"]["status"] == "completed"

    body = client.get(f"/api/v1/studio/generation/{generation_id}").json()
    assert body["status"] == "completed", body
    assert body["metadata"]["source"] == "local"
    picture = requests.get(body["url"], timeout=30)
    assert picture.status_code == 200
    assert picture.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(picture.content))
    assert (image.format, image.size) == ("PNG", (1920, 1080))
    thumbnail = Image.open(io.BytesIO(requests.get(body["thumbnail_url"], timeout=30).content))
    assert thumbnail.format == "WEBP" and max(thumbnail.size) <= 512
    # The same object without the signature is refused: the bucket is private.
    assert requests.get(body["url"].split("?")[0], timeout=30).status_code == 403

    assert entries(generation_id) == [EntryKind.CAPTURE, EntryKind.HOLD]
    user.token_account.refresh_from_db()
    assert (user.token_account.balance, user.token_account.held) == (46, 0)
    assert ledger_audit() == []


def test_a_video_is_an_mp4_with_duration_times_fps_frames(api, worker_env, start_worker):
    user = UserFactory(credits=50)
    client = login(api, user)
    start_worker({**worker_env, "VIDEO_PROVIDERS": "local"})

    accepted = client.post(
        "/api/v1/studio/generate-video",
        {
            "prompt": "Clouds drifting over a mountain lake",
            "model": "pika",
            "duration": 3,
            "fps": 8,
        },
        format="json",
    )
    assert accepted.status_code == 202, accepted.content
    body = wait_until_finished(client, accepted.json()["id"])
    assert body["status"] == "completed", body

    video = requests.get(body["url"], timeout=30)
    assert video.status_code == 200 and video.headers["Content-Type"] == "video/mp4"
    with av.open(io.BytesIO(video.content)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (1024, 576)
        assert sum(1 for _ in container.decode(stream)) == 3 * 8
    assert body["metadata"]["frames"] == 24
    user.token_account.refresh_from_db()
    assert user.token_account.balance == 50 - 4
    assert ledger_audit() == []


def test_a_worker_killed_mid_job_loses_nothing_and_charges_once(
    api, worker_env, start_worker, settings
):
    settings.GENERATION_LEASE = 2  # the sweeper (here) and the workers share the setting
    user = UserFactory(credits=50)
    client = login(api, user)
    with FakeHuggingFace() as huggingface:
        env = {
            **worker_env,
            "IMAGE_PROVIDERS": "huggingface,local",
            "HF_TOKEN": HF_TOKEN,
            "HF_BASE_URL": huggingface.url,
            "HF_TIMEOUT": "60",
            "GENERATION_LEASE": "2",
        }
        huggingface.fail_next(HANG)  # the first call never answers: the worker is mid-job
        first = start_worker(env)
        generation_id = client.post(
            "/api/v1/studio/generate-image",
            {"prompt": "A red fox in snow", "model": "flux-dev"},
            format="json",
        ).json()["id"]
        assert huggingface.wait_for_requests(1, timeout=60), first.output()
        running = Generation.objects.get(pk=generation_id)
        assert (running.status, running.attempts) == (Status.GENERATING, 1)

        first.kill()
        huggingface.release.set()

        # Its lease runs out two seconds after its last progress report; then the sweeper
        # hands the job to whichever worker is alive.
        deadline = time.monotonic() + 30
        while generations_sweep().requeued == 0:
            assert time.monotonic() < deadline, "the dead worker's lease never ran out"
            time.sleep(0.2)  # waiting for the lease to expire, which is wall-clock time
        start_worker(env)
        body = wait_until_finished(client, generation_id)

    assert body["status"] == "completed", body
    assert body["metadata"]["source"] == "huggingface"
    generation = Generation.objects.get(pk=generation_id)
    assert generation.attempts == 2
    assert len(huggingface.requests) == 2
    assert entries(generation_id) == [EntryKind.CAPTURE, EntryKind.HOLD]
    user.token_account.refresh_from_db()
    assert (user.token_account.balance, user.token_account.held) == (50 - 3, 0)
    assert ledger_audit() == []


class WebProcess(Program):
    """gunicorn serving config.wsgi, as production runs the web tier."""

    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        command = [
            gunicorn,
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            "--threads",
            "4",
        ]
        super().__init__(command, env, ready_when="Booting worker")
        self.wait_until_up(60)


@pytest.mark.rabbitmq
def test_rabbitmq_carries_jobs_from_a_web_process_to_a_worker_process(worker_env, start_worker):
    """The whole production shape over HTTP: gunicorn and rundramatiq, RabbitMQ between
    them (DRAMATIQ_BROKER_URL=amqp://…), PostgreSQL and S3 behind."""
    env = {
        **worker_env,
        "DRAMATIQ_BROKER_URL": django_settings.RABBITMQ_URL,
        # RabbitMQ has no namespaces: this run's queues are its own by name.
        "DRAMATIQ_QUEUE_PREFIX": f"test{os.getpid()}-",
        "IMAGE_PROVIDERS": "local",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    start_worker(env)
    web = WebProcess(env)
    try:
        session = requests.Session()
        registered = session.post(
            f"{web.base}/auth/register",
            json={"email": "rabbit@example.com", "password": "sunny-Meadow-42", "name": "R"},
            timeout=30,
        )
        assert registered.status_code == 201, registered.text
        session.headers["Authorization"] = f"Bearer {registered.json()['token']}"
        health = session.get(f"{web.base}/health", timeout=30).json()
        assert health["checks"]["broker"] == {
            "ok": True,
            "latency_ms": health["checks"]["broker"]["latency_ms"],
            "backend": "RabbitmqBroker",
        }

        accepted = session.post(
            f"{web.base}/studio/generate-image",
            json={"prompt": "A harbour at night", "category": "painting"},
            timeout=30,
        )
        assert accepted.status_code == 202, accepted.text
        generation_id = accepted.json()["id"]
        deadline = time.monotonic() + 120
        while (
            body := session.get(f"{web.base}/studio/generation/{generation_id}", timeout=30).json()
        )["status"] not in FINISHED:
            assert time.monotonic() < deadline, body
            time.sleep(0.2)  # a client polling a job in other processes
        assert body["status"] == "completed", body
        picture = requests.get(body["url"], timeout=30)
        assert Image.open(io.BytesIO(picture.content)).size == (1024, 1024)
        tokens = session.get(f"{web.base}/tokens", timeout=30).json()
        assert (tokens["balance"], tokens["held"]) == (50 - 4, 0)
    finally:
        web.stop()
    assert ledger_audit() == []
