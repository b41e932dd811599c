"""Template pipelines: the engine's overhead between two steps, next to a single job's.

    make bench                  (needs PostgreSQL and Redis on this machine; starts SeaweedFS)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/craftframe \\
    REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/pipeline_bench.py \\
        --executions 1,16 --runs 96 --jobs 480 [--trace]

Real parts, as bench/generation_bench.py uses them: PostgreSQL (a database of its own,
`<name>_bench_pipe`, created for the run and dropped after it), Redis (the Dramatiq broker,
the cache and the change notifications, all under a namespace of this run's, deleted after
it), SeaweedFS for the files, and one separate worker process (the Dramatiq CLI as
`manage.py rundramatiq` runs it, 1 process x 16 threads unless told) on the images queue,
which runs generations and image operations alike. Images come from the `instant` provider
(a ready 16x16 PNG) and the operations run locally on such tiny pictures, so the steps take
milliseconds and what is measured is the platform.

Single job, the reference: N clients (threads, each its own user) submit generate-image
through the API in a closed loop (submit, wait for completion, submit again). Submit-to-start
= the job's started_at (the worker's claim) - the moment the client sent the POST.

Pipeline: N clients each run executions of one 5-step template (generate-image -> upscale ->
remove-background -> upscale -> remove-background) back to back, through POST
/templates/<id>/execute. Per-step overhead = step n+1's job started_at - step n's job
finished_at: the rest of the completion transaction (the step's charge, the next step's job
created), the commit, the enqueue, the broker, the worker's pickup and the claim.

Target: per-step overhead p50 <= 1.5x the single job's submit-to-start p50 at the same
concurrency, the two measured in alternating rounds (--rounds) so a change in the machine's
load hits both alike. Checked too: every execution completed, the ledger audit is clean, and
each pipeline user was charged exactly the previewed cost (POST /templates/<id>/cost) of
their runs. Exits 0 when the target is missed (it prints FAIL), non-zero when a check fails.

--trace: timestamps in both processes (the enqueue after commit, its return, the actor
starting) break both intervals down by segment; it adds a Redis write or two per job.
"""

import argparse
import contextlib
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import generation_bench  # noqa: E402
from bench.generation_bench import Completions, percentile, run_clients, stop  # noqa: E402
from bench.ledger_bench import bench_database_url  # noqa: E402
from bench.sse_bench import drop_database, forget_redis_keys, fresh_database  # noqa: E402
from bench.sse_bench import environment as sse_environment  # noqa: E402

TRACE = "PIPEBENCH_TRACE"
TARGET = 1.5
STEPS = [
    ("generate-image", {"prompt": "{{inputs.subject}}, flat", "model": "sdxl"}),
    ("upscale", {"source": "{{steps.1.output}}", "scale": 2}),
    ("remove-background", {"source": "{{steps.2.output}}"}),
    ("upscale", {"source": "{{steps.3.output}}", "scale": 2}),
    ("remove-background", {"source": "{{steps.4.output}}"}),
]

# --chain images: five generate-image steps, nothing but the instant provider in them, so a
# step's own work takes no CPU away from the engine (the operations above decode, resize and
# encode pictures in the worker process, which shares its GIL with the next step's pickup).
IMAGE_STEPS = [
    ("generate-image", {"prompt": f"{{{{inputs.subject}}}}, view {n}", "model": "sdxl"})
    for n in range(1, 6)
]


# --- Tracing (--trace): installed in the worker when it imports this module -----------------


def install_trace(namespace: str) -> None:
    """Stamp, per job, the enqueue after commit (`commit`), its return (`sent`) and the actor
    starting on a worker thread (`actor`), on a Redis list the bench reads afterwards."""
    import dramatiq

    import pipelines.services.executions as executions
    import studio.services.generations as generations
    import studio.tasks as tasks

    client, key = dramatiq.get_broker().client, f"{namespace}:trace"
    original_enqueue, original_run = generations.enqueue, tasks.generation_run

    def enqueue(generation) -> None:
        committed = time.time()
        original_enqueue(generation)
        sent = time.time()
        client.rpush(key, f"{generation.pk} commit {committed}", f"{generation.pk} sent {sent}")

    def generation_run(*, generation_id: str) -> None:
        client.rpush(key, f"{generation_id} actor {time.time()}")
        original_run(generation_id=generation_id)

    generations.enqueue = executions.enqueue = enqueue
    tasks.generation_run = generation_run


if __name__ != "__main__" and os.environ.get(TRACE):
    install_trace(os.environ[TRACE])


def read_trace(namespace: str) -> dict[str, dict[str, float]]:
    import dramatiq

    stamps: dict[str, dict[str, float]] = {}
    for line in dramatiq.get_broker().client.lrange(f"{namespace}:trace", 0, -1):
        job, event, moment = line.decode().split()
        stamps.setdefault(job, {})[event] = float(moment)
    return stamps


# --- Worker, users, waiting -------------------------------------------------------------------


def start_worker(env: dict, processes: int, threads: int) -> subprocess.Popen:
    """generation_bench's worker on the images queue; with --trace it loads the trace hooks."""
    extra = ("bench.pipeline_bench",) if env.get(TRACE) else ()
    return generation_bench.start_worker(env, processes, threads, "images", extra)


class Finished(Completions):
    """Completions (generation_bench) that also hears of executions reaching their end."""

    TRIGGER = (
        Completions.TRIGGER
        + """
    DROP TRIGGER IF EXISTS pipebench_done ON pipelines_execution;
    CREATE TRIGGER pipebench_done AFTER UPDATE OF status ON pipelines_execution FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'failed', 'cancelled')) EXECUTE FUNCTION genbench_notify();
    """
    )

    def _listen(self) -> None:
        with contextlib.suppress(Exception):  # the database is dropped at the end
            super()._listen()


def bench_users(count: int, label: str) -> list:
    """(user, API client) pairs, each user with a large balance on the enterprise plan."""
    from django.test import Client

    from accounts.models import Plan, Subscription, User
    from accounts.services import tokens_issue
    from tokens.services import account_open

    stamp, plan = uuid.uuid4().hex[:8], Plan.objects.get(code="enterprise")
    users = []
    for index in range(count):
        user = User.objects.create_user(email=f"{label}-{stamp}-{index}@bench.local", name="B")
        Subscription.objects.create(user=user, plan=plan)
        account_open(user=user, initial_credits=10**7)
        token = tokens_issue(user=user)["token"]
        users.append((user, Client(HTTP_AUTHORIZATION=f"Bearer {token}")))
    return users


def post(http, path: str, body: dict, expected: int) -> dict:
    response = http.post(f"/api/v1{path}", body, content_type="application/json")
    assert response.status_code == expected, (path, response.status_code, response.content)
    return response.json()


# --- The two measurements ---------------------------------------------------------------------


def singles(clients: int, per_client: int, finished: Finished) -> tuple[list, float]:
    """Closed-loop generate-image; per job (id, the moment its POST was sent)."""
    users = bench_users(clients, "single")

    def one(client: int, i: int) -> tuple[str, float]:
        sent = time.time()
        body = {"prompt": f"bench {client} {i}", "model": "sdxl"}
        generation_id = post(users[client][1], "/studio/generate-image", body, 202)["id"]
        finished.wait(generation_id)
        return generation_id, sent

    return run_clients(clients, per_client, one)


def template(http) -> tuple[str, int]:
    """The bench's template (public, so every user may run it) and its previewed cost."""
    steps = [{"operation": op, "params": params} for op, params in STEPS]
    document = {
        "name": "Pipeline bench",
        "description": "Draw, then upscale and cut out twice",
        "tags": ["bench"],
        "visibility": "public",
        "inputs": [{"name": "subject", "type": "text", "required": True, "default": "a kite"}],
        "steps": steps,
    }
    template_id = post(http, "/templates", document, 201)["id"]
    preview = post(http, f"/templates/{template_id}/cost", {"inputs": {}}, 200)["total"]
    return template_id, preview


def executions(
    clients: int, per_client: int, template_id: str, finished: Finished
) -> tuple[list, float, list]:
    """Closed-loop executions of the template; their ids, the seconds, the users."""
    users = bench_users(clients, "pipeline")

    def one(client: int, i: int) -> str:
        body = {"inputs": {"subject": f"bench {client} {i}"}}
        execution_id = post(users[client][1], f"/templates/{template_id}/execute", body, 202)["id"]
        finished.wait(execution_id, timeout=120)
        return execution_id

    ids, seconds = run_clients(clients, per_client, one)
    return ids, seconds, [user for user, _ in users]


def single_figures(jobs: list, stamps: dict) -> tuple[list[float], dict]:
    """Submit-to-start per job in ms, and its segments when traced."""
    from studio.models import Generation

    sent = dict(jobs)
    rows = Generation.objects.filter(pk__in=sent).values_list(
        "id", "enqueued_at", "created_at", "started_at"
    )
    overheads, segments = [], {}
    for job, enqueued, created, started in rows:
        overheads.append((started.timestamp() - sent[job]) * 1000)
        marks = [sent[job], enqueued.timestamp(), created.timestamp()]
        add_segments(segments, marks, stamps.get(job), started.timestamp())
    return overheads, segments


STEP_FIELDS = "execution_id status generation_id generation__enqueued_at generation__created_at \
generation__started_at generation__finished_at"


def step_figures(execution_ids: list[str], stamps: dict) -> tuple[list[float], dict, dict]:
    """Per-step overheads in ms, their segments when traced, and the executions' states
    (with how long the steps themselves ran)."""
    from pipelines.models import Execution, ExecutionStep

    rows = (
        ExecutionStep.objects.filter(execution_id__in=execution_ids)
        .order_by("execution_id", "position")
        .values_list(*STEP_FIELDS.split())
    )
    overheads, segments, previous, ran = [], {}, {}, []
    for execution, _, job, enqueued, created, started, finished in rows:
        if started and finished:
            ran.append((finished - started).total_seconds() * 1000)
        before = previous.get(execution)
        if before is not None and started is not None:
            overheads.append((started.timestamp() - before) * 1000)
            marks = [before, enqueued.timestamp(), created.timestamp()]
            add_segments(segments, marks, stamps.get(job), started.timestamp())
        previous[execution] = finished.timestamp() if finished else None
    states = {
        "completed": Execution.objects.filter(pk__in=execution_ids, status="completed").count(),
        "steps": sum(1 for row in rows if row[1] == "completed"),
        "ran": ran,
    }
    return overheads, segments, states


SEGMENTS = [
    "POST sent | step's finished_at -> next job built (enqueued_at)",
    "-> job row inserted (created_at)",
    "-> transaction committed (the on_commit enqueue runs)",
    "-> message in Redis (send returned)",
    "-> actor running on a worker thread",
    "-> claim (started_at)",
]


def add_segments(segments: dict, marks: list[float], stamp: dict | None, started: float) -> None:
    if not stamp or not {"commit", "sent", "actor"} <= stamp.keys():
        return
    marks = [*marks, stamp["commit"], stamp["sent"], stamp["actor"], started]
    for label, (a, b) in zip(SEGMENTS, itertools.pairwise(marks), strict=True):
        segments.setdefault(label, []).append((b - a) * 1000)


def charges(users: list, ids: list[str], preview: int) -> tuple[int, list[str]]:
    """Users charged exactly preview x their executions (nothing still held), and mismatches."""
    from pipelines.models import Execution
    from tokens.models import TokenAccount

    wrong = []
    for user in users:
        runs = Execution.objects.filter(pk__in=ids, user=user)
        account = TokenAccount.objects.get(user=user)
        charged, expected = 10**7 - account.balance, preview * runs.count()
        if charged != expected or account.held or any(r.cost != preview for r in runs):
            wrong.append(f"{user.email}: charged {charged} of {expected}, held {account.held}")
    return len(users) - len(wrong), wrong


# --- Main --------------------------------------------------------------------------------------


def environment(url: str, namespace: str, scratch: Path, s3, trace: bool) -> dict[str, str]:
    """sse_bench's production settings (its own database and Redis prefixes, instant
    provider, rate limits off), with SeaweedFS for the files."""
    env = {
        **sse_environment(url, namespace, scratch),
        "S3_BUCKET": s3.bucket,
        "S3_ENDPOINT_URL": s3.endpoint_url,
        "S3_ACCESS_KEY_ID": s3.access_key,
        "S3_SECRET_ACCESS_KEY": s3.secret_key,
    }
    env.pop(TRACE, None)
    return {**env, TRACE: namespace} if trace else env


def measure(args, levels: list[int], namespace: str, url: str) -> dict:
    finished = Finished(url)
    owner = bench_users(1, "owner")[0][1]
    template_id, preview = template(owner)
    # Warm up: connections, the worker's threads, the caches of both paths.
    singles(min(4, max(levels)), 2, finished)
    executions(min(4, max(levels)), 1, template_id, finished)
    run = {"preview": preview, "levels": {}, "ids": [], "users": []}
    for clients in levels:
        jobs, job_seconds, ids, seconds = [], 0.0, [], 0.0
        for _ in range(args.rounds):
            more, took = singles(clients, max(1, args.jobs // clients // args.rounds), finished)
            jobs, job_seconds = jobs + more, job_seconds + took
            per_client = max(1, args.runs // clients // args.rounds)
            more, took, users = executions(clients, per_client, template_id, finished)
            ids, seconds = ids + more, seconds + took
            run["users"] += users
        run["levels"][clients] = (jobs, job_seconds, ids, seconds)
        run["ids"] += ids
    return run


def report(args, run: dict, namespace: str) -> bool:
    """Print the figures next to the target; True when every check passed."""
    from tokens.audit import ledger_audit

    stamps = read_trace(namespace) if args.trace else {}
    chain = " -> ".join(op for op, _ in STEPS)
    print(
        f"{os.cpu_count()} CPU(s); worker {args.processes} process(es) x {args.threads} threads; "
        f"instant provider; S3 = SeaweedFS on this machine; template of {len(STEPS)} steps "
        f"({chain}), previewed cost {run['preview']}; clients back to back"
        + ("; traced" if args.trace else "")
    )
    print(
        "concurrent | single job: jobs/s  submit->start p50 ms  p99 ms | pipeline: steps/s  step "
        "ran p50 ms | step n finished -> n+1 started p50 ms  p99 ms | p50 ratio"
    )
    verdicts, completed, wanted, steps, breakdown = [], 0, 0, 0, {}
    for clients, (jobs, job_seconds, ids, seconds) in run["levels"].items():
        single, single_parts = single_figures(jobs, stamps)
        step, step_parts, states = step_figures(ids, stamps)
        completed, wanted = completed + states["completed"], wanted + len(ids)
        steps += states["steps"]
        ratio = percentile(step, 0.5) / percentile(single, 0.5)
        verdicts.append(
            f"{clients} concurrent {ratio:.2f}x {'PASS' if ratio <= TARGET else 'FAIL'}"
        )
        breakdown[clients] = (single_parts, step_parts)
        print(
            f"{clients:10d} | {len(jobs) / job_seconds:18.1f}  {percentile(single, 0.5):20.1f}  "
            f"{percentile(single, 0.99):6.1f} | {states['steps'] / seconds:17.1f}  "
            f"{percentile(states['ran'], 0.5):13.1f} | {percentile(step, 0.5):35.1f}  "
            f"{percentile(step, 0.99):6.1f} | {ratio:8.2f}x"
        )
    for clients, (single_parts, step_parts) in breakdown.items():
        if not step_parts:
            continue
        head = f"where the time goes at {clients} concurrent, ms"
        print(f"{head:64s} | single p50    p99 |  step p50    p99")
        for label in SEGMENTS:
            a, b = single_parts.get(label, [0.0]), step_parts.get(label, [0.0])
            print(
                f"  {label:62s} | {percentile(a, 0.5):10.2f} {percentile(a, 0.99):6.2f} | "
                f"{percentile(b, 0.5):9.2f} {percentile(b, 0.99):6.2f}"
            )
    problems = ledger_audit()
    right, wrong = charges(run["users"], run["ids"], run["preview"])
    print(
        f"target: per-step overhead p50 / single job submit-to-start p50 <= {TARGET}x: "
        + ", ".join(verdicts)
    )
    print(
        f"executions completed {completed}/{wanted} ({steps}/{wanted * len(STEPS)} steps); "
        f"ledger problems {len(problems)}; charged == previewed cost for "
        f"{right}/{len(run['users'])} users"
    )
    for line in [*map(str, problems[:5]), *wrong[:5]]:
        print(f"  {line}")
    return completed == wanted and steps == wanted * len(STEPS) and not problems and not wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", default="1,16", help="concurrent clients, a list")
    parser.add_argument("--runs", type=int, default=96, help="executions per concurrency level")
    parser.add_argument("--jobs", type=int, default=480, help="single jobs per concurrency level")
    parser.add_argument("--rounds", type=int, default=4, help="alternations of the two")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--trace", action="store_true", help="break the intervals down")
    parser.add_argument(
        "--chain",
        choices=["operations", "images"],
        default="operations",
        help="operations: draw, upscale, cut out, upscale, cut out; images: five draws",
    )
    args = parser.parse_args()
    if args.chain == "images":
        STEPS[:] = IMAGE_STEPS

    from tests.fakes.seaweed import SeaweedServer, find_weed

    url = bench_database_url().replace("_bench", "_bench_pipe")
    namespace = f"pipebench-{os.getpid()}"
    scratch = Path(tempfile.mkdtemp(prefix="craftframe-pipebench-"))
    weed = SeaweedServer(find_weed(), scratch, bucket="pipebench")
    env = environment(url, namespace, scratch / "site", weed.start(), args.trace)
    fresh_database(url)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    if args.trace:
        install_trace(namespace)
    worker, ok = None, False
    try:
        call_command("migrate", verbosity=0)
        worker = start_worker(env, args.processes, args.threads)
        run = measure(args, [int(level) for level in args.executions.split(",")], namespace, url)
        stop(worker)
        ok = report(args, run, namespace)
    finally:
        if worker is not None and worker.poll() is None:
            stop(worker)
        weed.stop()
        shutil.rmtree(scratch, ignore_errors=True)
        forget_redis_keys(env["REDIS_URL"], namespace)
        drop_database(url)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
