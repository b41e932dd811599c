"""Platform overhead of a generation: API -> Redis -> worker -> SeaweedFS -> completed.

    make bench                  (needs PostgreSQL and Redis on this machine; starts SeaweedFS)
    .venv/bin/python bench/generation_bench.py --clients 16 --jobs 480

N clients (threads, each its own user) submit image generations through the API (Django's full
middleware stack: JWT auth, validation, credit hold) in a closed loop: submit, wait for that
job to complete, submit the next — back to back (saturation: throughput), or with --think T
after a pause drawn from an exponential distribution of mean T seconds, as people using the
studio do (latency at a given load; arrivals are then close to Poisson). A separate worker process
(the Dramatiq CLI, as `manage.py rundramatiq` runs it) executes them with the `instant`
provider, which returns a ready tiny image, so what is measured is the platform: queueing,
claiming, progress, S3 writes (original, thumbnail, metadata), completion and capture.
Overhead per job = completed time (the row's finished_at) - the moment the client sent the
request - time spent in the provider.

Ceiling, measured in the same run on the same broker and worker: a bare Dramatiq no-op actor,
also driven by N closed-loop senders; its latency is send -> executed.

Targets: p50 overhead <= 25 ms and p99 <= 100 ms at 16 clients. The broker is the
project's (core/broker.py): idle consumers block on a wake-up list instead of polling, so
`dramatiq_worker_timeout` (--worker-timeout, Dramatiq's default 1000 ms) no longer sets the
pickup latency.
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ledger_bench import bench_database_url, ensure_database  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def start_worker(
    env: dict, processes: int, threads: int, queue: str, extra_modules: tuple[str, ...] = ()
) -> subprocess.Popen:
    """The Dramatiq CLI as `manage.py rundramatiq` runs it, on one queue: an idle queue's
    consumer polls Redis, which would take CPU from the phase being measured."""
    dramatiq = Path(sys.executable).parent / "dramatiq"
    modules = ["django_dramatiq.setup", "django_dramatiq.tasks", "studio.tasks", "bench.noop_actor"]
    modules += list(extra_modules)
    command = [
        str(dramatiq),
        "--path",
        str(ROOT),
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        *modules,
        "--queues",
        queue,
    ]
    # INFO: the worker's "ready for action" line is how we know it is up.
    worker = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**env, "LOG_LEVEL": "INFO"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    ready = 0
    for line in worker.stdout:
        if "ready for action" in line:
            ready += 1
            if ready == processes:
                break
    if worker.poll() is not None:
        sys.exit("worker did not start")
    threading.Thread(target=lambda: [None for _ in worker.stdout], daemon=True).start()
    return worker


def together(count: int, body) -> float:
    """`count` threads running body(i, start), where start() waits until all are ready;
    the seconds from the moment they all started until the last ended."""
    barrier = threading.Barrier(count + 1)
    pool = [threading.Thread(target=body, args=(i, barrier.wait)) for i in range(count)]
    for thread in pool:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started


def run_clients(clients: int, per_client: int, work) -> tuple[list, float]:
    """`clients` threads each calling work(client, i) per_client times; results and seconds."""
    results: list = []
    lock = threading.Lock()

    def loop(client: int, start) -> None:
        from django.db import connection

        start()
        mine = [work(client, i) for i in range(per_client)]
        connection.close()
        with lock:
            results.extend(mine)

    seconds = together(clients, loop)
    return results, seconds


def ceiling(clients: int, per_client: int, namespace: str) -> tuple[list[float], float]:
    """Closed-loop senders of the no-op actor; latency send -> executed, in ms."""
    import dramatiq

    from bench.noop_actor import bench_noop

    redis = dramatiq.get_broker().client

    def one(client: int, i: int) -> float:
        reply_to = f"{namespace}:bench-reply:{client}"
        sent = time.time()
        bench_noop.send(reply_to)
        _, executed = redis.blpop(reply_to, timeout=30)
        return (float(executed) - sent) * 1000

    return run_clients(clients, per_client, one)


class Completions:
    """Which jobs finished, told by PostgreSQL (LISTEN/NOTIFY on a bench-only trigger), so the
    clients wait without polling the database they are measuring."""

    TRIGGER = """
    CREATE OR REPLACE FUNCTION genbench_notify() RETURNS trigger AS $$
    BEGIN PERFORM pg_notify('genbench', NEW.id); RETURN NEW; END $$ LANGUAGE plpgsql;
    DROP TRIGGER IF EXISTS genbench_done ON studio_generation;
    CREATE TRIGGER genbench_done AFTER UPDATE OF status ON studio_generation FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'failed', 'cancelled')) EXECUTE FUNCTION genbench_notify();
    """

    def __init__(self, url: str):
        import psycopg

        conninfo = url.replace("postgres://", "postgresql://", 1)
        self.connection = psycopg.connect(conninfo, autocommit=True)
        self.connection.execute(self.TRIGGER)
        self.connection.execute("LISTEN genbench")
        self.done: set[str] = set()
        self.changed = threading.Condition()
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        for notice in self.connection.notifies():
            with self.changed:
                self.done.add(notice.payload)
                self.changed.notify_all()

    def wait(self, generation_id: str, timeout: float = 60) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: generation_id in self.done, timeout):
                raise TimeoutError(generation_id)


def generations(
    clients: int, per_client: int, completions: Completions, think: float = 0.0
) -> tuple[list, float]:
    from django.test import Client

    from accounts.models import Plan, Subscription, User
    from accounts.services import tokens_issue
    from studio.models import Generation
    from tokens.services import account_open

    stamp = uuid.uuid4().hex[:8]
    tokens = []
    for client in range(clients):
        user = User.objects.create_user(email=f"bench-{stamp}-{client}@bench.local", name="B")
        Subscription.objects.create(user=user, plan=Plan.objects.get(code="enterprise"))
        account_open(user=user, initial_credits=10**7)
        tokens.append(tokens_issue(user=user)["token"])
    http = [Client(HTTP_AUTHORIZATION=f"Bearer {token}") for token in tokens]

    pauses = [random.Random(client) for client in range(clients)]

    def one(client: int, i: int) -> tuple:
        if think:
            # A person between two jobs: exponential think time, so arrivals are Poisson.
            time.sleep(pauses[client].expovariate(1 / think))
        sent = time.time()
        response = http[client].post(
            "/api/v1/studio/generate-image",
            {"prompt": f"bench {client} {i}", "model": "sdxl"},
            content_type="application/json",
        )
        assert response.status_code == 202, response.content
        generation_id = response.json()["id"]
        completions.wait(generation_id)
        status, finished_at, provider_seconds = (
            Generation.objects.filter(pk=generation_id)
            .values_list("status", "finished_at", "generation_time")
            .get()
        )
        overhead = (finished_at.timestamp() - sent - (provider_seconds or 0)) * 1000
        return status, overhead

    return run_clients(clients, per_client, one)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients", default="16", help="concurrent clients; a list (1,4,16) runs each in turn"
    )
    parser.add_argument("--jobs", type=int, default=480, help="generations in all")
    parser.add_argument("--noop", type=int, default=1600, help="no-op messages in all")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--worker-timeout", type=int, default=1000, help="ms; see above")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds a client pauses before each submission (0: back to back)",
    )
    args = parser.parse_args()

    from tests.fakes.seaweed import SeaweedServer, find_weed

    url = bench_database_url().replace("_bench", "_genbench")
    ensure_database(url)
    namespace = f"bench-{os.getpid()}"
    scratch = Path(tempfile.mkdtemp(prefix="craftframe-genbench-"))
    weed = SeaweedServer(find_weed(), scratch, bucket="genbench")
    s3 = weed.start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": url,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
        "DRAMATIQ_NAMESPACE": namespace,
        "SECRET_KEY": "bench-only-secret-key-long-enough-for-hmac-sha256",
        "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "S3_BUCKET": s3.bucket,
        "S3_ENDPOINT_URL": s3.endpoint_url,
        "S3_ACCESS_KEY_ID": s3.access_key,
        "S3_SECRET_ACCESS_KEY": s3.secret_key,
        "IMAGE_PROVIDERS": "instant",
        "RATELIMIT_ENABLE": "false",
        "EMBEDDED_WORKER": "false",
        "LOG_LEVEL": "WARNING",
        "dramatiq_worker_timeout": str(args.worker_timeout),
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    levels = [int(level) for level in args.clients.split(",")]
    results = []
    worker = None
    try:
        worker = start_worker(env, args.processes, args.threads, "bench")
        ceilings = {}
        for clients in levels:
            ceiling(clients, 2, namespace)  # warm up connections
            ceilings[clients] = ceiling(clients, max(1, args.noop // clients), namespace)
        stop(worker)
        worker = start_worker(env, args.processes, args.threads, "images")
        completions = Completions(url)
        for clients in levels:
            generations(clients, 2, completions)  # warm up
            jobs = generations(clients, max(1, args.jobs // clients), completions, args.think)
            results.append((clients, ceilings[clients], jobs))
        stop(worker)
    finally:
        if worker is not None and worker.poll() is None:
            stop(worker)
        weed.stop()

    from tokens.audit import ledger_audit

    print(
        f"{os.cpu_count()} CPU(s); worker {args.processes} process(es) x {args.threads} "
        f"threads; dramatiq_worker_timeout={args.worker_timeout} ms; instant provider; "
        f"S3 = SeaweedFS on this machine; clients "
        + (f"pause {args.think:g} s on average between jobs" if args.think else "back to back")
    )
    print(
        "clients | no-op ceiling: msg/s  p50 ms  p99 ms | generations: jobs/s  overhead "
        "p50 ms  p99 ms | throughput/ceiling"
    )
    failed = 0
    for clients, (noop, noop_seconds), (jobs, job_seconds) in results:
        overheads = [overhead for status, overhead in jobs if status == "completed"]
        failed += sum(1 for status, _ in jobs if status != "completed")
        noop_rate, job_rate = len(noop) / noop_seconds, len(jobs) / job_seconds
        print(
            f"{clients:7d} | {noop_rate:20.0f}  {percentile(noop, 0.5):6.1f}  "
            f"{percentile(noop, 0.99):6.1f} | {job_rate:19.1f}  "
            f"{percentile(overheads, 0.5):15.1f}  {percentile(overheads, 0.99):6.1f} | "
            f"{job_rate / noop_rate:18.1%}"
        )
    problems = ledger_audit()
    print(
        f"targets at 16 clients: overhead p50 <= 25 ms, p99 <= 100 ms; failed jobs {failed}; "
        f"ledger problems {len(problems)}"
    )
    sys.exit(1 if failed or problems else 0)


def stop(worker: subprocess.Popen) -> None:
    os.killpg(worker.pid, 15)
    worker.wait(timeout=60)


if __name__ == "__main__":
    main()
