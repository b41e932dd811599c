"""Fakes and helpers of the lifecycle tests: a Hugging Face that answers late, jobs in a
thread of their own, balances and ledger entries."""

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import dramatiq
from django.db import connections
from django.utils import timezone

from config.s3 import s3_storage
from studio.models import Generation, Status
from studio.tasks import generate_image, generate_video
from tests.fakes.huggingface import FakeHuggingFace
from tests.fakes.servers import HANG_LIMIT, closed_port_url

IMAGE = "/api/v1/studio/generate-image"


VIDEO = "/api/v1/studio/generate-video"


QUEUES = (generate_image.queue_name, generate_video.queue_name)


EXECUTION_LOGGER = "studio.services.execution"


# What generation_run logs when a cancel stops a job: at a progress check, or at completion
# (a job that answered within the first progress interval has had no check).
STOPPED = "stopped: cancelled or taken over"


class LateHuggingFace(FakeHuggingFace):
    """Hugging Face whose valid answer waits until the test sets `answer_now` (HANG would
    answer 504 once released; this answers with the image, late)."""

    def __init__(self) -> None:
        super().__init__()
        self.answer_now = threading.Event()

    def answer(self, request, size=None):
        self.answer_now.wait(HANG_LIMIT)
        return super().answer(request, size)

    def __exit__(self, *exc_info) -> None:
        self.answer_now.set()  # never leave a handler thread waiting
        super().__exit__(*exc_info)


class InThread:
    """`call()` in a thread of its own, which uses (and at the end closes) its own database
    connection. `result()` joins it and re-raises what it raised."""

    def __init__(self, call: Callable[[], object]) -> None:
        self._call = call
        self._value: object = None
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:  # handed to the test thread by result()
            self._error = exc
        finally:
            connections.close_all()

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()

    def result(self, timeout: float = 60) -> object:
        self.thread.join(timeout)
        assert self.done, f"the thread still runs after {timeout} s"
        if self._error is not None:
            raise self._error
        return self._value


def submit(api, path: str = IMAGE, **body) -> str:
    response = api.post(path, {"prompt": "A lighthouse at dawn", **body}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def cancel(api, generation_id: str) -> None:
    response = api.post(f"/api/v1/studio/generation/{generation_id}/cancel")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"


def hold_entries(generation_id: str) -> dict[str, int]:
    """How many ledger entries of each kind the generation's hold has."""
    hold = Generation.objects.get(pk=generation_id).hold
    return dict(Counter(hold.entries.values_list("kind", flat=True)))


def balance(user) -> tuple[int, int]:
    user.token_account.refresh_from_db()
    return user.token_account.balance, user.token_account.held


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def wait_for_row(
    generation_id: str, condition: Callable[[Generation], bool], job: InThread, timeout=60
) -> Generation:
    """Poll the row until `condition` holds: another thread's progress, with no event to wait
    on. Fails if that thread ends first or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        finished = job.done  # read before the row: a job that ended after it still counts
        generation = Generation.objects.get(pk=generation_id)
        if condition(generation):
            return generation
        assert not finished, f"the job ended first: {generation.status} {generation.progress}%"
        assert time.monotonic() < deadline, f"not reached in {timeout} s: {generation.progress}%"
        time.sleep(0.05)


def make_running(generation_id: str, **fields) -> None:
    """The row as a worker that claimed it left it (the worker itself is gone or stuck)."""
    now = timezone.now()
    values = {
        "status": Status.GENERATING,
        "worker": "dead-host:4242:1:0badf00d",
        "attempts": 1,
        "progress": 40,
        "started_at": now - timedelta(minutes=1),
        "lease_until": now + timedelta(minutes=1),
    }
    values.update(fields)
    assert Generation.objects.filter(pk=generation_id).update(**values) == 1


def storage_down(settings) -> None:
    """Media storage on an S3 endpoint where nothing listens (connection refused)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage(
            bucket="craftframe-media",
            endpoint_url=closed_port_url(),
            access_key="test-access",
            secret_key="test-secret",
            connect_timeout=1,
            read_timeout=1,
        ),
    }


@contextmanager
def empty_queues(queues) -> Iterator[dramatiq.Broker]:
    """The configured broker with `queues` emptied before and after (submissions enqueue
    messages nobody consumes unless a test starts a worker)."""
    broker = dramatiq.get_broker()
    for queue in queues:
        broker.flush(queue)
    yield broker
    for queue in queues:
        broker.flush(queue)


def drain(broker, queue: str) -> dramatiq.Worker:
    """Start an in-process worker on `queue`; return it once the queue is empty (it keeps
    consuming until `dismiss`)."""
    worker = dramatiq.Worker(broker, queues={queue}, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        broker.join(queue, timeout=60_000)
        worker.join()
    except BaseException:
        dismiss(broker, worker)
        raise
    return worker


def dismiss(broker, worker: dramatiq.Worker) -> None:
    worker.stop()
    # The worker registered a middleware that would start consumers for queues declared
    # later; drop it with the worker.
    broker.middleware[:] = [
        m for m in broker.middleware if getattr(m, "worker", None) is not worker
    ]
