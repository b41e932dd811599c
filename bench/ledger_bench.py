"""Hot-account ledger throughput on PostgreSQL, next to the raw ceiling measured in the same run.

    make bench          (DATABASE_URL defaults to this machine's PostgreSQL)
    .venv/bin/python bench/ledger_bench.py --threads 8 --seconds 5 --cost 4

Ceiling: N threads, each on its own psycopg connection, looping the bare conditional update
    UPDATE tokens_tokenaccount SET held = held + c WHERE id = %s AND balance >= held + c
on one row (autocommit): the most a single hot row can take on this machine.
Service path: N threads looping hold_create + hold_capture through tokens.services on one
account: two transactions per cycle, each with the guarded update, its ledger entry and the
hold row. Prints cycles/s, ledger operations/s and their ratio to the ceiling, then runs the
ledger audit (invariant violations must be 0). Uses its own database, `<name>_bench`.
"""

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bench_database_url() -> str:
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/craftframe")
    parsed = urlparse(url)
    if not parsed.scheme.startswith("postgres"):
        sys.exit("ledger_bench needs PostgreSQL: set DATABASE_URL=postgres://…")
    name = (parsed.path.lstrip("/") or "craftframe") + "_bench"
    return urlunparse(parsed._replace(path="/" + name))


def ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    admin = urlunparse(parsed._replace(path="/postgres"))
    name = parsed.path.lstrip("/")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.pop("REDIS_URL", None)
    os.environ["EMBEDDED_WORKER"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def run_threads(threads: int, seconds: float, loop) -> list[int]:
    """Run loop(stop_at) on `threads` threads started together; each returns its count."""
    counts = [0] * threads
    barrier = threading.Barrier(threads + 1)

    def runner(i: int) -> None:
        barrier.wait()
        counts[i] = loop(time.perf_counter() + seconds)

    pool = [threading.Thread(target=runner, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    for thread in pool:
        thread.join()
    return counts


def raw_ceiling(url: str, account_id: int, threads: int, seconds: float, cost: int) -> float:
    import psycopg

    sql = "UPDATE tokens_tokenaccount SET held = held + %s WHERE id = %s AND balance >= held + %s"
    conninfo = urlunparse(urlparse(url)._replace(scheme="postgresql"))

    def loop(stop_at: float) -> int:
        done = 0
        with psycopg.connect(conninfo, autocommit=True) as conn:
            while time.perf_counter() < stop_at:
                conn.execute(sql, [cost, account_id, cost])
                done += 1
        return done

    return sum(run_threads(threads, seconds, loop)) / seconds


def service_path(account, threads: int, seconds: float, cost: int) -> float:
    from django.db import connection

    from tokens.services import hold_capture, hold_create

    def loop(stop_at: float) -> int:
        done = 0
        try:
            while time.perf_counter() < stop_at:
                hold = hold_create(account=account, amount=cost, operation="bench")
                hold_capture(hold=hold)
                done += 1
        finally:
            connection.close()
        return done

    return sum(run_threads(threads, seconds, loop)) / seconds


def bench_account(email: str, credits: int):
    from accounts.models import Plan, Subscription, User
    from tokens.services import account_open

    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=None, name="Bench")
        Subscription.objects.create(user=user, plan=Plan.objects.get(code="enterprise"))
    return account_open(user=user, initial_credits=credits, memo="bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--cost", type=int, default=4)
    args = parser.parse_args()

    url = bench_database_url()
    ensure_database(url)
    setup_django(url)
    from django.db import connection

    from tokens.audit import ledger_audit
    from tokens.services import tokens_grant

    print(
        f"PostgreSQL {connection.cursor().connection.info.server_version}, "
        f"{args.threads} threads, {args.seconds:.0f} s each, cost {args.cost}, "
        f"{os.cpu_count()} CPU(s)"
    )

    stamp = int(time.time() * 1000)
    # The ceiling's row only ever gains `held`; give it room for every update it can do.
    raw_account = bench_account(f"raw-{stamp}@bench.local", 10**12)
    ceiling = raw_ceiling(url, raw_account.pk, args.threads, args.seconds, args.cost)

    account = bench_account(f"service-{stamp}@bench.local", 0)
    tokens_grant(account=account, amount=10**9, memo="bench float")
    account.refresh_from_db()
    cycles = service_path(account, args.threads, args.seconds, args.cost)

    # The ceiling moved `held` behind the ledger's back on purpose; audit the service account.
    problems = ledger_audit([account.pk])
    ops = 2 * cycles
    print(f"raw ceiling (bare conditional UPDATE):  {ceiling:9.0f} updates/s")
    print(
        f"service path hold+capture:               {cycles:9.0f} cycles/s "
        f"({ops:.0f} ledger operations/s)"
    )
    print(f"ratio, ledger operations / raw updates:  {ops / ceiling:9.1%}")
    print(f"ratio, hold+capture cycles / raw updates:{cycles / ceiling:9.1%}")
    print(f"invariant violations:                    {len(problems):9d}")
    for problem in problems:
        print("  ", problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
