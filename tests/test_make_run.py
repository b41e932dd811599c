"""`make run` on the embedded defaults: it sets up, serves, and the seed's flow works; data
survives a restart. Runs the real Makefile target in a scratch DATA_DIR on a free port."""

import json
import os
import signal
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(base: str, method: str, path: str, body: dict | None = None, token: str | None = None):
    request = urllib.request.Request(
        base + path, method=method, data=json.dumps(body).encode() if body is not None else None
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


class Server:
    """`make run` in its own process group, stopped with the whole group."""

    def __init__(self, data_dir: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in (
                "DATABASE_URL",
                "REDIS_URL",
                "DJANGO_SETTINGS_MODULE",
                "SECRET_KEY",
                "DRAMATIQ_BROKER_URL",
                "S3_BUCKET",
                "EMBEDDED_WORKER",
            )
        }
        env.update(DATA_DIR=str(data_dir), PORT=str(self.port))
        self.lines: list[str] = []
        self.listening = threading.Event()
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
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
            if "Booting worker" in line:
                self.listening.set()
        self.listening.set()  # exited: let the waiter see it

    def wait_until_up(self, timeout: float = 120) -> None:
        assert self.listening.wait(timeout), f"not up after {timeout}s: {self.output()}"
        assert self.process.poll() is None, f"make run exited: {self.output()}"

    def output(self) -> str:
        return "".join(self.lines)[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path


def test_make_run_serves_the_seed_flow_and_keeps_data_across_restarts(data_dir):
    server = Server(data_dir)
    try:
        server.wait_until_up()
        status, body, _ = call(server.base, "GET", "/health")
        assert body["checks"]["database"]["backend"] == "sqlite"
        assert body["checks"]["broker"]["backend"] == "StubBroker"

        status, body, headers = call(
            server.base,
            "POST",
            "/auth/register",
            {"email": "ann@example.com", "password": "sunny-Meadow-42", "name": "Ann"},
        )
        assert status == 201, body
        assert body["user"]["credits"] == 50 and headers["X-Request-ID"].startswith("req_")
        status, body, _ = call(
            server.base,
            "POST",
            "/auth/login",
            {"email": "ann@example.com", "password": "sunny-Meadow-42"},
        )
        assert status == 200
        token = body["token"]
        status, profile, _ = call(server.base, "GET", "/users/profile", token=token)
        assert status == 200
        assert profile["subscription"]["plan"] == "free" and profile["credits"] == 50
        status, tokens, _ = call(server.base, "GET", "/tokens", token=token)
        assert (tokens["balance"], tokens["held"], tokens["available"]) == (50, 0, 50)
        assert [e["kind"] for e in tokens["history"]] == ["grant"]
        status, demo, _ = call(server.base, "POST", "/auth/demo", {})
        assert status == 200 and demo["user"]["isDemo"] and demo["user"]["credits"] == 1000
    finally:
        server.stop()

    again = Server(data_dir)
    try:
        again.wait_until_up()
        status, body, _ = call(
            again.base,
            "POST",
            "/auth/login",
            {"email": "ann@example.com", "password": "sunny-Meadow-42"},
        )
        assert status == 200 and body["user"]["credits"] == 50
    finally:
        again.stop()
    assert (data_dir / "db.sqlite3").exists() and (data_dir / "secret_key").exists()
