"""Real Redis, PostgreSQL and nginx processes for tests, on free loopback ports.

Each is started from its Debian package's binary (scripts/install-system-deps.sh installs
them), waits in a bounded loop until it answers, and is stopped by its pid. Data lives in
a temporary directory and nothing is persisted.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.servers import free_port


def _pg_bin() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian keeps one per major)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s")


def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, sig)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)


class RedisServer:
    """``redis-server`` with no persistence: a restart loses every key, as in a crash."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"redis-{self.port}.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(self.log_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, self.proc, timeout, "redis-server")
        return self

    def stop(self) -> None:
        _stop(self.proc)

    def kill(self) -> None:
        """SIGKILL: Redis dies mid-stream, its data with it."""
        _stop(self.proc, signal.SIGKILL)

    def restart(self) -> None:
        self.kill()
        self.start()


class PostgresServer:
    """A throwaway PostgreSQL cluster run as the ``postgres`` user (initdb + postgres)."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.datadir = workdir / "pgdata"
        self.sockdir = workdir / "pgsock"
        self.proc: subprocess.Popen[bytes] | None = None
        self.user = "tickwire"
        self.password = "tickwire"

    def url(self, dbname: str) -> str:
        return f"postgres://{self.user}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def _as_owner(self) -> dict[str, object]:
        if os.geteuid() != 0:
            return {}
        pw = pwd.getpwnam("postgres")
        return {"user": pw.pw_uid, "group": pw.pw_gid}

    def start(self, timeout: float = 60.0) -> PostgresServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sockdir.mkdir(exist_ok=True)
        owner = self._as_owner()
        if owner:
            # initdb refuses to run as root: the cluster belongs to ``postgres``, so its
            # directory must be one that user can reach (a fresh mkdtemp under /tmp).
            for path in (self.workdir, self.sockdir):
                os.chown(path, owner["user"], owner["group"])  # type: ignore[arg-type]
        pwfile = self.workdir / "pw"
        pwfile.write_text(self.password + "\n")
        if owner:
            os.chown(pwfile, owner["user"], owner["group"])  # type: ignore[arg-type]
        subprocess.run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                self.user,
                "--pwfile",
                str(pwfile),
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            **owner,  # type: ignore[arg-type]
        )
        return self.launch(timeout)

    def launch(self, timeout: float = 60.0) -> PostgresServer:
        """Start the server on the cluster :meth:`start` created (again, after :meth:`stop`)."""
        owner = self._as_owner()
        self.proc = subprocess.Popen(
            [
                str(PG_BIN / "postgres"),
                "-D",
                str(self.datadir),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.sockdir),
                # A test database: speed over durability.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=open(self.workdir / "postgres.log", "ab"),
            stderr=subprocess.STDOUT,
            **owner,  # type: ignore[arg-type]
        )
        _wait_port(self.port, self.proc, timeout, "postgres")
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def create_database(self, name: str) -> str:
        """Create (or recreate) database ``name`` and return its URL."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast shutdown": disconnect clients, stop at once.
        _stop(self.proc, signal.SIGINT)


#: The nginx site Tickwire ships; the tests run nginx with it (docs/deployment.md).
SHIPPED_NGINX_SITE = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "tickwire.conf"

NGINX_MAIN = """
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    include {site};
}}
"""


def shipped_nginx_site(upstreams: list[int], port: int, static_root: Path) -> str:
    """``deploy/nginx/tickwire.conf`` with only its addresses changed for a test: the two
    node lines to ``upstreams`` on loopback, ``listen 80`` to ``port``, the static
    directory to ``static_root``. Every other line (locations, headers, timeouts) is the
    shipped one; a shipped file whose addresses moved fails here, loudly."""
    text = SHIPPED_NGINX_SITE.read_text()
    nodes = re.findall(r"^    server 127\.0\.0\.1:800[12] (.*);$", text, re.MULTILINE)
    assert len(nodes) == 2, "deploy/nginx/tickwire.conf: expected the two node lines"
    text = re.sub(r"^    server 127\.0\.0\.1:8001 .*;\n    server 127\.0\.0\.1:8002 .*;$",
                  "\n".join(f"    server 127.0.0.1:{p} {nodes[0]};" for p in upstreams),
                  text, count=1, flags=re.MULTILINE)  # fmt: skip
    for old, new in (
        ("    listen 80;", f"    listen 127.0.0.1:{port};"),
        ("alias /var/lib/tickwire/static/;", f"alias {static_root}/;"),
    ):
        assert text.count(old) == 1, f"deploy/nginx/tickwire.conf: expected {old.strip()!r}"
        text = text.replace(old, new)
    return text


class NginxServer:
    """nginx in the foreground with its own prefix directory and the shipped site
    (:func:`shipped_nginx_site`), proxying to ``upstreams``."""

    def __init__(
        self,
        workdir: Path,
        upstreams: list[int],
        port: int | None = None,
        static_root: Path | None = None,
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.upstreams = upstreams
        self.static_root = static_root or workdir / "static"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/realtime/"

    def start(self, timeout: float = 20.0) -> NginxServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        site = self.workdir / "tickwire.conf"
        site.write_text(shipped_nginx_site(self.upstreams, self.port, self.static_root))
        conf = self.workdir / "nginx.conf"
        conf.write_text(NGINX_MAIN.format(prefix=self.workdir, site=site))
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        check = subprocess.run(
            [binary, "-t", "-c", str(conf), "-p", str(self.workdir)], capture_output=True
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx config rejected:\n{check.stderr.decode()}")
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "stderr.log", "ab"),
        )
        _wait_port(self.port, self.proc, timeout, "nginx")
        return self

    def stop(self) -> None:
        # SIGQUIT would wait for open WebSockets; SIGTERM is nginx's fast shutdown.
        _stop(self.proc)


class FeedProcess:
    """``python manage.py start_price_feed`` in its own process group, stopped by its pid."""

    def __init__(self, workdir: Path, env: dict[str, str], interval: float = 0.05) -> None:
        self.workdir = workdir
        self.env = env
        self.interval = interval
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "feed.log"

    def start(self) -> FeedProcess:
        from tests.servers import ROOT

        self.proc = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "start_price_feed",
                "--interval",
                str(self.interval),
                "--verbose",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=open(self.log_path, "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""
