"""Live progress (Server-Sent Events): event latency, and what open streams cost the API.

    make bench                  (needs PostgreSQL and Redis on this machine)
    .venv/bin/python bench/sse_bench.py --streams 500 --clients 16 --seconds 10

The site runs under uvicorn as production serves it (one process, production settings,
PostgreSQL, Redis for the cache, the broker and the change notifications) on a database of its
own, `<name>_bench_sse`, created for the run and dropped after it. No worker runs: the jobs the
clients submit stay queued, which is what an open stream waits on.

Event latency: the bench process plays the worker. It claims a job with the service a worker
calls (generation_claim) and reports progress with the worker's own ProgressReporter.write (the
conditional UPDATE of the row, then the notification on Redis), stamping the time just before;
an SSE client reading GET /api/v1/studio/generation/<id>/events stamps the moment the frame
with that progress arrives. One report at a time, so this is latency, not throughput.
Ceiling, in the same run: a bare Redis pub/sub round trip, redis-py PUBLISH from a thread to a
redis.asyncio subscriber in the same event loop as the SSE client.

Open streams: `--streams` streams on queued jobs of bench users, over raw asyncio connections
(the client side costs next to nothing while they idle); each must get its first event (held),
and still be open at the end. `--clients` clients (threads, each its own user) then run a
closed loop of POST generate-image + GET generation/<id> for `--seconds`, first with no stream
open, then with all of them open; the event latency is probed meanwhile (one report every
50 ms). Server memory is the uvicorn process's VmRSS (/proc/<pid>/status) before and after the
streams open.

Targets: event p50 <= 20 ms; 500 streams held; API p99 with them open at most 2x without.
Exits 0 when a target is missed (it prints MISSED), non-zero on errors (a refused stream
is a missed target; a failed API call is an error).
"""

import argparse
import asyncio
import codecs
import contextlib
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generation_bench import percentile, together  # noqa: E402
from bench.ledger_bench import bench_database_url  # noqa: E402

EVENTS = "/api/v1/studio/generation/{}/events"
DETAIL = "/api/v1/studio/generation/{}"
SUBMIT = "/api/v1/studio/generate-image"
WORKER = "ssebench-probe"  # the worker token of the jobs the bench reports progress on
WAIT = 30  # seconds: the longest anything may take before the bench calls it an error
PROBE_PAUSE = 0.05  # seconds between two progress reports while the API is under load


# --- Database and server ---------------------------------------------------------------------


def fresh_database(url: str) -> None:
    """An empty database for this run (one left by an interrupted run is dropped first)."""
    import psycopg

    parsed = urlparse(url)
    admin = urlunparse(parsed._replace(path="/postgres"))
    name = parsed.path.lstrip("/")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    parsed = urlparse(url)
    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.path.lstrip("/")}" WITH (FORCE)')


def database_connections(url: str) -> int:
    """Connections to the bench database, all processes (server, bench)."""
    import psycopg

    parsed = urlparse(url)
    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [parsed.path.lstrip("/")]
        ).fetchone()
    return row[0]


def raise_open_files(streams: int) -> None:
    """Each stream is a socket at both ends (the server inherits this limit)."""
    need = 2 * streams + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            sys.exit(f"RLIMIT_NOFILE hard limit {hard} < {need}: raise it (ulimit -Hn)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def process_status(pid: int) -> dict[str, int]:
    """VmRSS (KiB) and Threads of a process, from /proc."""
    status = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "Threads"):
            status[key] = int(value.split()[0])
    return status


def bench_users(count: int, label: str) -> list[str]:
    """`count` users on the top plan with ample credits; their access tokens."""
    from accounts.models import Plan, Subscription, User
    from accounts.services import tokens_issue
    from tokens.services import account_open

    stamp = uuid.uuid4().hex[:8]
    plan = Plan.objects.get(code="enterprise")
    tokens = []
    for i in range(count):
        user = User.objects.create_user(email=f"sse-{label}-{stamp}-{i}@bench.local", name="B")
        Subscription.objects.create(user=user, plan=plan)
        account_open(user=user, initial_credits=10**8)
        tokens.append(tokens_issue(user=user)["token"])
    return tokens


def api_client(base: str, token: str):
    import httpx

    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=WAIT)


def submit(client, prompt: str) -> str:
    """POST generate-image; the queued job's id."""
    response = client.post(SUBMIT, json={"prompt": prompt, "model": "sdxl"})
    if response.status_code != 202:
        raise RuntimeError(f"generate-image answered {response.status_code}: {response.text}")
    return response.json()["id"]


def queued_jobs(base: str, tokens: list[str], count: int) -> list[tuple[str, str]]:
    """`count` queued jobs spread over the users: (generation id, its owner's token)."""

    def one(i: int) -> tuple[str, str]:
        token = tokens[i % len(tokens)]
        with api_client(base, token) as client:
            return submit(client, f"held stream {i}"), token

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


# --- SSE client ------------------------------------------------------------------------------


class EventStream:
    """One GET …/events on a raw asyncio connection, as an EventSource sends it; the body is
    cut into frames (tests/studio/events/support.FrameReader) as bytes arrive, and each frame
    is stamped with the moment its bytes were read, by a task of its own, so a frame that
    arrives while the bench is busy elsewhere is not stamped late."""

    def __init__(self, reader, writer, chunked: bool):
        self.reader, self.writer, self.chunked = reader, writer, chunked
        self.frames: asyncio.Queue = asyncio.Queue()
        self.closed = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, port: int, generation_id: str, token: str) -> "EventStream":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            (
                f"GET {EVENTS.format(generation_id)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n"
                "Cache-Control: no-cache\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            writer.close()
            raise ConnectionRefusedError(f"event stream answered {status}")
        return cls(reader, writer, b"transfer-encoding: chunked" in head.lower())

    async def _read(self) -> None:
        from tests.studio.events.support import FrameReader

        decoder = codecs.getincrementaldecoder("utf-8")()
        frames = FrameReader()
        try:
            while data := await self._chunk():
                arrived = time.perf_counter()
                for frame in frames.feed(decoder.decode(data)):
                    self.frames.put_nowait((arrived, frame))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.closed.set()

    async def _chunk(self) -> bytes:
        """The next piece of the body (b"" at its end), undoing chunked transfer coding."""
        if not self.chunked:
            return await self.reader.read(65536)
        line = await self.reader.readline()
        size = int(line.split(b";")[0], 16) if line.strip() else 0
        if size == 0:  # the last chunk, or the server closed the connection
            return b""
        return (await self.reader.readexactly(size + 2))[:-2]

    async def next_event(self) -> tuple[float, object]:
        """The next frame that is an event (not `retry:` or a heartbeat), and its arrival."""
        while True:
            arrived, frame = await asyncio.wait_for(self.frames.get(), WAIT)
            if frame.event is not None:
                return arrived, frame

    async def close(self) -> None:
        self.task.cancel()
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class Loop:
    """An asyncio event loop on a thread of its own, where every SSE client lives; the main
    thread hands it coroutines and keeps its own hands free for the API clients."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(ThreadPoolExecutor(4, thread_name_prefix="probe"))
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def start(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine, timeout: float | None = None):
        return self.start(coroutine).result(timeout)


# --- (a) Event latency -----------------------------------------------------------------------


class Prober:
    """Plays the worker: claims a job and writes its progress as a worker does."""

    def __init__(self, base: str, token: str):
        self.token = token
        self.client = api_client(base, token)
        self.jobs = 0

    def claimed_job(self):
        """A new job, submitted through the API and claimed: its id and ProgressReporter."""
        from studio.services.execution import ProgressReporter
        from studio.services.generations import generation_claim

        self.jobs += 1
        generation_id = submit(self.client, f"probe {self.jobs}")
        generation = generation_claim(generation_id=generation_id, worker=WORKER)
        if generation is None:
            raise RuntimeError(f"could not claim {generation_id}")
        return generation_id, ProgressReporter(generation, WORKER)

    @staticmethod
    def timed_write(reporter, progress: int) -> float:
        """The worker's progress write (UPDATE, then PUBLISH); when it started."""
        sent = time.perf_counter()
        reporter.write(progress)
        return sent


async def event_latencies(
    prober: Prober, port: int, *, samples: int = 0, until: float = 0.0, pause: float = 0.0
) -> list[float]:
    """ms from a progress write to its frame at the client; `samples` of them, or until the
    perf_counter reaches `until`. A job carries progress 1..99, so a new one every 99."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []

    def more() -> bool:
        return len(latencies) < samples if samples else time.perf_counter() < until

    while more():
        generation_id, reporter = await loop.run_in_executor(None, prober.claimed_job)
        stream = await EventStream.open(port, generation_id, prober.token)
        try:
            _, first = await stream.next_event()  # the claimed state: generating, 0 %
            assert first.data["status"] == "generating", first.raw
            for progress in range(1, 100):
                if not more():
                    break
                sent = await loop.run_in_executor(None, prober.timed_write, reporter, progress)
                arrived, frame = await stream.next_event()
                assert frame.data["progress"] == progress, frame.raw
                latencies.append((arrived - sent) * 1000)
                if pause:
                    await asyncio.sleep(pause)  # pacing, not synchronisation
        finally:
            await stream.close()
    return latencies


async def redis_latencies(url: str, name: str, samples: int) -> list[float]:
    """ms of a bare pub/sub round trip: PUBLISH (redis-py, from a thread) to a redis.asyncio
    subscriber on this loop, with a message the size of a progress notification."""
    import redis
    import redis.asyncio as aioredis

    publisher = redis.Redis.from_url(url)
    subscriber = aioredis.Redis.from_url(url)
    pubsub = subscriber.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(name)
    arrivals: asyncio.Queue = asyncio.Queue()

    async def read() -> None:
        async for message in pubsub.listen():
            arrivals.put_nowait((time.perf_counter(), message["data"]))

    def timed_publish(i: int) -> float:
        payload = {"status": "generating", "progress": i, "attempts": 1, "started": time.time()}
        sent = time.perf_counter()
        publisher.publish(name, json.dumps(payload, separators=(",", ":")))
        return sent

    loop = asyncio.get_running_loop()
    reader = loop.create_task(read())
    latencies = []
    try:
        for i in range(samples):
            sent = await loop.run_in_executor(None, timed_publish, i)
            arrived, data = await asyncio.wait_for(arrivals.get(), WAIT)
            assert json.loads(data)["progress"] == i
            latencies.append((arrived - sent) * 1000)
    finally:
        reader.cancel()
        await pubsub.aclose()
        await subscriber.aclose()
        publisher.close()
    return latencies


# --- (b) Open streams and the API ------------------------------------------------------------


async def open_streams(
    port: int, jobs: list[tuple[str, str]], concurrency: int
) -> tuple[list[EventStream], list[str]]:
    """A stream on each queued job, `concurrency` opening at a time; a stream counts once its
    first event (the queued state) has arrived. The open streams, and why others failed."""
    gate = asyncio.Semaphore(concurrency)
    held: list[EventStream] = []
    failures: list[str] = []

    async def one(generation_id: str, token: str) -> None:
        async with gate:
            try:
                stream = await EventStream.open(port, generation_id, token)
                _, first = await stream.next_event()
            except Exception as error:  # counted: a stream the server refused
                failures.append(f"{type(error).__name__}: {error}")
                return
            if first.event == "progress" and first.data["status"] == "queued":
                held.append(stream)
            else:
                failures.append(f"unexpected first event {first.raw!r}")
                await stream.close()

    await asyncio.gather(*(one(generation_id, token) for generation_id, token in jobs))
    return held, failures


async def close_streams(streams: list[EventStream]) -> None:
    await asyncio.gather(*(stream.close() for stream in streams))


def api_load(base: str, tokens: list[str], seconds: float) -> tuple[dict, list[str], float]:
    """Each client (its own user and keep-alive connection) loops POST generate-image, then
    GET of that generation, back to back for `seconds`. Latencies (ms) per call, failures,
    and the seconds it ran."""
    calls: dict[str, list[float]] = {"POST generate-image": [], "GET generation/<id>": []}
    failures: list[str] = []
    lock = threading.Lock()

    def loop(client_index: int, start) -> None:
        posts, gets, failed = [], [], []
        with api_client(base, tokens[client_index]) as client:
            start()
            deadline = time.perf_counter() + seconds
            i = 0
            while time.perf_counter() < deadline:
                i += 1
                started = time.perf_counter()
                response = client.post(SUBMIT, json={"prompt": f"load {i}", "model": "sdxl"})
                posts.append((time.perf_counter() - started) * 1000)
                if response.status_code != 202:
                    failed.append(f"POST {response.status_code}: {response.text[:200]}")
                    continue
                started = time.perf_counter()
                response = client.get(DETAIL.format(response.json()["id"]))
                gets.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    failed.append(f"GET {response.status_code}: {response.text[:200]}")
        with lock:
            calls["POST generate-image"].extend(posts)
            calls["GET generation/<id>"].extend(gets)
            failures.extend(failed)

    seconds = together(len(tokens), loop)
    return calls, failures, seconds


def loaded_phase(loop: Loop, prober: Prober, port: int, base: str, tokens, seconds: float):
    """The API load, with the event latency probed meanwhile."""
    probe = loop.start(
        event_latencies(prober, port, until=time.perf_counter() + seconds, pause=PROBE_PAUSE)
    )
    calls, failures, elapsed = api_load(base, tokens, seconds)
    return calls, failures, elapsed, probe.result(WAIT + seconds)


# --- Report ----------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def figures(values: list[float]) -> str:
    return f"{len(values):7d}  {percentile(values, 0.5):6.1f}  {percentile(values, 0.99):6.1f}"


def report(args, run: dict) -> bool:
    """Print the run's figures next to the targets; True when every target is met."""
    print(
        f"{os.cpu_count()} CPU(s); uvicorn, 1 process, production settings (PostgreSQL, Redis "
        f"events); {args.clients} clients back to back for {args.seconds:g} s per phase; "
        f"{args.streams} streams"
    )
    print("event latency, ms                         |  samples     p50     p99")
    for label, values in (
        ("raw Redis pub/sub round trip (ceiling)", run["redis"]),
        ("progress write -> SSE client, idle", run["idle"]),
        (f"  same, {args.clients} clients, no streams open", run["probe_without"]),
        (f"  same, {args.clients} clients, {len(run['held'])} streams open", run["probe_with"]),
    ):
        print(f"{label:42s}| {figures(values)}")
    print(
        "API, ms                | no streams: calls/s   p50     p99 | "
        f"{len(run['held'])} streams: calls/s   p50     p99 | p50 x   p99 x"
    )
    ratios = []
    for name in run["without"]:
        without, with_ = run["without"][name], run["with"][name]
        p99_ratio = percentile(with_, 0.99) / percentile(without, 0.99)
        ratios.append(p99_ratio)
        print(
            f"{name:22s} | {len(without) / run['without_seconds']:18.0f}  "
            f"{percentile(without, 0.5):6.1f}  {percentile(without, 0.99):6.1f} | "
            f"{len(with_) / run['with_seconds']:17.0f}  {percentile(with_, 0.5):6.1f}  "
            f"{percentile(with_, 0.99):6.1f} | "
            f"{percentile(with_, 0.5) / percentile(without, 0.5):5.2f}  {p99_ratio:6.2f}"
        )
    before, after = run["server_before"], run["server_with"]
    held = len(run["held"])
    per_stream = (after["VmRSS"] - before["VmRSS"]) / max(1, held)
    print(
        f"streams: {held}/{args.streams} got their first event in {run['open_seconds']:.1f} s, "
        f"{run['still_open']}/{held} still open at the end; server RSS "
        f"{before['VmRSS'] / 1024:.0f} -> {after['VmRSS'] / 1024:.0f} MiB "
        f"({per_stream:.0f} KiB per stream), threads {before['Threads']} -> "
        f"{after['Threads']}, PostgreSQL connections {run['db_before']} -> {run['db_with']}"
    )
    for failure in run["stream_failures"][:5]:
        print(f"  refused: {failure}")
    latency_ok = percentile(run["idle"], 0.5) <= 20
    loaded_ok = percentile(run["probe_with"], 0.5) <= 20
    held_ok = held == args.streams and run["still_open"] == held
    api_ok = max(ratios) <= 2
    print(
        f"targets: event p50 <= 20 ms: idle {verdict(latency_ok)}, under load with streams "
        f"{verdict(loaded_ok)}; {args.streams} streams held: {verdict(held_ok)}; API p99 with "
        f"streams <= 2x without (worst {max(ratios):.2f}x): {verdict(api_ok)}"
    )
    return latency_ok and loaded_ok and held_ok and api_ok


# --- Main ------------------------------------------------------------------------------------


def environment(url: str, namespace: str, data_dir: Path) -> dict[str, str]:
    """Production settings for the server and this process (which must agree on the secret
    key, the database and the Redis prefixes); rate limits off, so load is not refused."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": url,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
        "DRAMATIQ_NAMESPACE": namespace,
        "CACHE_KEY_PREFIX": namespace,
        "EVENTS_PREFIX": namespace,  # pub/sub channels span Redis databases
        "SECRET_KEY": "bench-only-secret-key-long-enough-for-hmac-sha256",
        "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "DATA_DIR": str(data_dir),
        "IMAGE_PROVIDERS": "instant",
        "RATELIMIT_ENABLE": "false",
        "AUTH_RATE_LIMIT": "100000/m",
        "EMBEDDED_WORKER": "false",
        "LOG_LEVEL": "WARNING",
    }


def measure(args, env: dict[str, str], url: str) -> tuple[dict, list[str]]:
    """Every phase, in order; the figures and the failed API calls."""
    from tests.fakes.processes import AsgiServer

    client_tokens = bench_users(args.clients, "client")
    stream_tokens = bench_users(args.stream_users, "stream")
    prober_token = bench_users(1, "probe")[0]
    server = AsgiServer(env)
    loop = Loop()
    run: dict = {}
    held: list[EventStream] = []
    try:
        base, port = server.base, server.port
        prober = Prober(base, prober_token)
        jobs = queued_jobs(base, stream_tokens, args.streams)
        # Warm up the server, the pools and the probe before anything is measured.
        loop.run(event_latencies(prober, port, samples=50))
        loop.run(redis_latencies(env["REDIS_URL"], f"{env['EVENTS_PREFIX']}:raw", 50))
        api_load(base, client_tokens, 2)

        run["redis"] = loop.run(
            redis_latencies(env["REDIS_URL"], f"{env['EVENTS_PREFIX']}:raw", args.samples)
        )
        run["idle"] = loop.run(event_latencies(prober, port, samples=args.samples))
        calls, failures, seconds, probe = loaded_phase(
            loop, prober, port, base, client_tokens, args.seconds
        )
        run.update(without=calls, without_seconds=seconds, probe_without=probe)

        run["server_before"] = process_status(server.process.pid)
        run["db_before"] = database_connections(url)
        started = time.perf_counter()
        held, run["stream_failures"] = loop.run(open_streams(port, jobs, args.open_concurrency))
        run["open_seconds"] = time.perf_counter() - started
        run["held"] = held
        run["server_with"] = process_status(server.process.pid)
        run["db_with"] = database_connections(url)

        calls, more_failures, seconds, probe = loaded_phase(
            loop, prober, port, base, client_tokens, args.seconds
        )
        run.update(with_=calls, with_seconds=seconds, probe_with=probe)
        run["with"] = run.pop("with_")
        run["still_open"] = sum(not stream.closed.is_set() for stream in held)
        failures += more_failures
    except BaseException:
        print(f"server output:\n{server.output()}", file=sys.stderr)
        raise
    finally:
        if held:
            loop.run(close_streams(held), WAIT)
        server.stop()
    return run, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=500, help="event streams held open")
    parser.add_argument("--clients", type=int, default=16, help="concurrent API clients")
    parser.add_argument("--seconds", type=float, default=10, help="length of each API phase")
    parser.add_argument("--samples", type=int, default=500, help="idle latency samples")
    parser.add_argument("--stream-users", type=int, default=25, help="owners of the streams")
    parser.add_argument("--open-concurrency", type=int, default=25, help="streams opening at once")
    args = parser.parse_args()

    raise_open_files(args.streams)
    url = bench_database_url().replace("_bench", "_bench_sse")
    namespace = f"ssebench-{os.getpid()}"
    data_dir = Path(tempfile.mkdtemp(prefix="craftframe-ssebench-"))
    env = environment(url, namespace, data_dir)
    fresh_database(url)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    try:
        call_command("migrate", verbosity=0)
        run, failures = measure(args, env, url)
    finally:
        forget_redis_keys(env["REDIS_URL"], namespace)
        drop_database(url)
        shutil.rmtree(data_dir, ignore_errors=True)
    report(args, run)
    for failure in failures[:5]:
        print(f"failed API call: {failure}")
    sys.exit(1 if failures else 0)


def forget_redis_keys(url: str, namespace: str) -> None:
    """The queued messages, rate-limit and cache keys this run left in Redis."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    client.close()


if __name__ == "__main__":
    main()
