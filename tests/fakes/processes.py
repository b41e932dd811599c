"""Our own programs as separate processes (make run, gunicorn, rundramatiq) for end-to-end
tests: each in its own process group, its output collected, up when it says so."""

import os
import signal
import socket
import subprocess
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
