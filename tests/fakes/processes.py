"""Our own programs as separate processes (make run, gunicorn, rundramatiq) for end-to-end
tests: each in its own process group, its output collected, up when it says so."""

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Program:
    """Start `command`; `up` is set when a line of its output contains `ready_when` (or when
    it exits, so a waiter is never left hanging)."""

    def __init__(self, command: list[str], env: dict[str, str], ready_when: str):
        self.lines: list[str] = []
        self.up = threading.Event()
        self._marker = ready_when
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if self._marker in line:
                self.up.set()
        self.up.set()

    def wait_until_up(self, timeout: float = 120) -> None:
        assert self.up.wait(timeout), f"not up after {timeout}s:\n{self.output()}"
        assert self.process.poll() is None, f"exited:\n{self.output()}"

    def output(self) -> str:
        return "".join(self.lines)[-4000:]

    def kill(self) -> None:
        """SIGKILL the whole group: no cleanup, no acks, like a machine that died."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def production_env(s3, **overrides: str) -> dict[str, str]:
    """Production settings for a process of ours (web server, worker) pointed at this test
    run's database, Redis prefixes, broker namespace and S3 bucket."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "S3_", "IMAGE_", "VIDEO_", "HF_", "POLLINATIONS_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=(
            f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        REDIS_URL=settings.REDIS_URL,
        DRAMATIQ_NAMESPACE=os.environ["DRAMATIQ_NAMESPACE"],
        CACHE_KEY_PREFIX=settings.CACHES["default"].get("KEY_PREFIX", "craftframe"),
        EVENTS_PREFIX=settings.EVENTS_PREFIX,
        SECRET_KEY=settings.SECRET_KEY,
        S3_BUCKET=s3.bucket,
        S3_ENDPOINT_URL=s3.endpoint_url,
        S3_ACCESS_KEY_ID=s3.access_key,
        S3_SECRET_ACCESS_KEY=s3.secret_key,
        EMBEDDED_WORKER="false",
        WEBHOOKS_ALLOW_PRIVATE="true",
        LOG_LEVEL="INFO",
    )
    env.update(overrides)
    return env


class AsgiServer(Program):
    """The site under uvicorn (as `make run` and production serve it), on a free port."""

    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--lifespan",
            "off",
            "--timeout-graceful-shutdown",
            "3",
            "--no-access-log",
        ]
        super().__init__(command, env, ready_when="Uvicorn running on")
        self.wait_until_up(90)


class WorkerProcess(Program):
    """`manage.py rundramatiq`: a worker as production runs it."""

    def __init__(self, env: dict[str, str], threads: int = 2):
        command = [
            sys.executable,
            "manage.py",
            "rundramatiq",
            "--processes",
            "1",
            "--threads",
            str(threads),
        ]
        super().__init__(command, env, ready_when="ready for action")
        self.wait_until_up(90)
