"""Process plumbing for the benchmark: start, pin, command and stop the processes."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A benchmark process in its own session, driven over stdin/stdout JSON lines."""

    def __init__(self, name: str, args: list[str], log_dir: Path, core: int | None) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(self.log_path, "ab"),  # noqa: SIM115 (the child owns it)
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)},
            start_new_session=True,
        )
        self.pid = self.proc.pid
        if core is not None:
            os.sched_setaffinity(self.pid, {core})
        self._buf = b""

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def expect(self, event: str, timeout: float = 60.0) -> dict[str, Any]:
        """The next JSON line whose ``event`` is ``event``; raises on exit or timeout."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if isinstance(msg, dict) and msg.get("event") == event:
                    return msg
                if isinstance(msg, dict) and msg.get("event") == "error":
                    raise RuntimeError(f"{self.name}: {msg}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no {event!r} in {timeout:g}s\n{self.log()}")
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError(f"{self.name} exited ({self.proc.poll()})\n{self.log()}")
                self._buf += chunk

    def ask(self, line: str, event: str, timeout: float = 60.0) -> dict[str, Any]:
        self.send(line)
        return self.expect(event, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        try:
            self.send("quit")
            self.proc.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(5)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            return ""


class RedisProc:
    """A throwaway ``redis-server`` for the Redis-mode run: loopback, a free port, no
    persistence, pinned to ``core`` (never the server's), stopped by its pid."""

    def __init__(self, log_dir: Path, core: int | None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server not found: run scripts/install-system-deps.sh (Debian redis-server)"
            )
        self.port = free_port()
        self.log_path = log_dir / f"redis-{self.port}.log"
        self.proc = subprocess.Popen(
            [
                *(binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(log_dir)),
                *("--logfile", str(self.log_path)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        try:
            if core is not None:
                os.sched_setaffinity(self.pid, {core})
            deadline = time.monotonic() + 20
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited ({self.proc.returncode})")
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server did not listen on {self.port}") from None
                    time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def version(self) -> str:
        out = subprocess.run(
            [self.proc.args[0], "--version"], capture_output=True, text=True, timeout=10
        ).stdout
        return next((w[2:] for w in out.split() if w.startswith("v=")), out.strip())

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(5)
