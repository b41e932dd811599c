"""`make run` on the embedded defaults: it sets up, serves, and the seed's flow works; data
survives a restart. Runs the real Makefile target in a scratch DATA_DIR on a free port."""

import io
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from tests.fakes.processes import Program, free_port


def call(base: str, method: str, path: str, body: dict | None = None, token: str | None = None):
    request = urllib.request.Request(
        base + path, method=method, data=json.dumps(body).encode() if body is not None else None
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers


class Server(Program):
    """`make run` on a free port, in a scratch DATA_DIR, without the test services."""

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
                "DRAMATIQ_NAMESPACE",
                "S3_BUCKET",
                "EMBEDDED_WORKER",
            )
        }
        env.update(DATA_DIR=str(data_dir), PORT=str(self.port))
        super().__init__(
            ["make", "--no-print-directory", "run"], env, ready_when="Uvicorn running on"
        )


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path


def test_make_run_serves_the_seed_flow_and_keeps_data_across_restarts(data_dir):
    server = Server(data_dir)
    try:
        server.wait_until_up()
        status, body, _ = call(server.base, "GET", "/health")
        assert body["checks"]["database"]["backend"] == "sqlite"
        # The studio's pages, served by the ASGI server with their static files.
        site = server.base.removesuffix("/api/v1")
        with urllib.request.urlopen(site + "/", timeout=30) as landing:
            html = landing.read().decode()
            assert landing.headers["Content-Type"].startswith("text/html")
            assert "script-src 'self'" in landing.headers["Content-Security-Policy"]
        assert "Try the demo" in html and "/media/samples/" in html
        stylesheet = html.split('<link rel="stylesheet" href="')[1].split('"')[0]
        with urllib.request.urlopen(site + stylesheet, timeout=30) as css:
            assert css.headers["Content-Type"].startswith("text/css")
            assert "immutable" in css.headers.get("Cache-Control", "")
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

        # A generation through the embedded worker threads and the local provider, its file
        # served by the app at a signed URL.
        status, accepted, _ = call(
            server.base,
            "POST",
            "/studio/generate-image",
            {"prompt": "A lighthouse on a cliff at sunset", "category": "anime"},
            token=token,
        )
        assert status == 202, accepted
        job = f"/studio/generation/{accepted['id']}"
        deadline = time.monotonic() + 120
        while (body := call(server.base, "GET", job, token=token)[1])["status"] in (
            "queued",
            "generating",
        ):
            assert time.monotonic() < deadline, body
            time.sleep(0.2)  # a client polling its job
        assert body["status"] == "completed", body
        assert body["metadata"]["source"] == "local"
        assert body["url"].startswith("http://127.0.0.1")
        with urllib.request.urlopen(body["url"], timeout=30) as picture:
            assert picture.headers["Content-Type"] == "image/png"
            assert Image.open(io.BytesIO(picture.read())).size == (1024, 1024)
        unsigned = body["url"].split("?")[0]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(unsigned, timeout=30)
        assert refused.value.code == 403

        # The starter templates are seeded; one runs step after step on the embedded worker.
        status, listing, _ = call(server.base, "GET", "/templates?owner=public&limit=100")
        starters = {t["name"]: t["id"] for t in listing["templates"] if t["starter"]}
        assert {"Logo kit", "Poster", "Sticker", "Brand moodboard"} <= set(starters)
        status, run, _ = call(
            server.base,
            "POST",
            f"/templates/{starters['Sticker']}/execute",
            {"inputs": {"subject": "a happy otter"}},
            token=token,
        )
        assert status == 202, run
        deadline = time.monotonic() + 120
        while (run := call(server.base, "GET", f"/executions/{run['id']}", token=token)[1])[
            "status"
        ] in ("queued", "running"):
            assert time.monotonic() < deadline, run
            time.sleep(0.2)  # a client polling its execution
        assert run["status"] == "completed", run
        assert [s["output"]["type"] for s in run["steps"]] == ["image", "image"]
        assert run["credits"]["charged"] == 8
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
        assert status == 200 and body["user"]["credits"] == 50 - 4 - 8  # all paid for
    finally:
        again.stop()
    assert (data_dir / "db.sqlite3").exists() and (data_dir / "secret_key").exists()
