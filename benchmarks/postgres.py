"""A throwaway PostgreSQL cluster for benchmarks: initdb in a fresh directory, the server on
a free loopback port with durability off, stopped by its pid.

The benchmarks' own copy, so ``python -m benchmarks.ingest`` runs from a checkout without
the tests package. Debian's PostgreSQL (``scripts/install-system-deps.sh``), newest major
installed; as root the cluster belongs to the ``postgres`` user.
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import free_port

__all__ = ["PostgresServer", "installed"]


def _bin() -> Path | None:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def installed() -> bool:
    """True when a PostgreSQL server is installed (Debian's layout)."""
    return _bin() is not None


class PostgresServer:
    """``initdb`` + ``postgres`` in ``workdir`` (which the ``postgres`` user must reach when
    run as root: a fresh ``mkdtemp`` under /tmp)."""

    def __init__(self, workdir: Path) -> None:
        binary = _bin()
        if binary is None:
            raise RuntimeError("PostgreSQL not found: run scripts/install-system-deps.sh")
        self.bin = binary
        self.port = free_port()
        self.workdir = workdir
        self.user = self.password = "tickwire"
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, dbname: str) -> str:
        return f"postgres://{self.user}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def _owner(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        pw = pwd.getpwnam("postgres")
        return {"user": pw.pw_uid, "group": pw.pw_gid}

    def start(self, timeout: float = 60.0) -> PostgresServer:
        owner = self._owner()
        sockdir = self.workdir / "sock"
        sockdir.mkdir(parents=True, exist_ok=True)
        pwfile = self.workdir / "pw"
        pwfile.write_text(self.password + "\n")
        if owner:
            for path in (self.workdir, sockdir, pwfile):
                os.chown(path, owner["user"], owner["group"])
        subprocess.run(
            [
                *(str(self.bin / "initdb"), "-D", str(self.workdir / "data"), "-U", self.user),
                *("--pwfile", str(pwfile), "-A", "scram-sha-256", "-E", "UTF8", "--no-sync"),
            ],
            check=True,
            capture_output=True,
            **owner,
        )
        with open(self.workdir / "postgres.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    *(str(self.bin / "postgres"), "-D", str(self.workdir / "data")),
                    *("-p", str(self.port), "-h", "127.0.0.1", "-k", str(sockdir)),
                    # A benchmark database: speed over durability.
                    *("-c", "fsync=off", "-c", "synchronous_commit=off"),
                    *("-c", "full_page_writes=off"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **owner,
            )
        self._wait(timeout)
        return self

    def _wait(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited ({self.proc.returncode})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except (OSError, psycopg.OperationalError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres did not answer within {timeout:g} s") from None
                time.sleep(0.1)

    def create_database(self, name: str) -> str:
        """Create (or recreate) database ``name``; its URL."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT) by pid; SIGKILL if it does not go within 10 s."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
