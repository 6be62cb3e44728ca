"""A scaled-out Tickwire on one machine, for the cluster benchmarks (storm, deployment).

What docs/scaling.md runs, each part its own OS process on loopback, pinned to a core and
stopped by its pid: a throwaway ``redis-server`` (:class:`~benchmarks.harness.RedisProc`),
server nodes (``python -m tickwire.serve --no-setup``) and the price feed
(``manage.py start_price_feed``, the simulator over the benchmark's assets), all on one
SQLite file that :func:`prepare` migrates and fills with ``S0000``, ``S0001``, ... once.
:class:`Clients` drives one :mod:`benchmarks.resume_clients` process.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import raise_nofile, write_block
from .harness import ROOT, Proc, RedisProc, free_port

__all__ = ["Clients", "Cluster", "FeedProc", "NodeProc", "prepare", "running", "symbols"]


def symbols(count: int) -> list[str]:
    """The benchmark's asset symbols."""
    return [f"S{i:04d}" for i in range(count)]


def base_env(home: Path, redis_url: str) -> dict[str, str]:
    """What every node and the feed share (docs/scaling.md: one broker, one database)."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "tickwire.settings.local",
        "TICKWIRE_HOME": str(home),
        "DATABASE_URL": f"sqlite:///{home / 'db.sqlite3'}",
        "TICKWIRE_BROKER_URL": redis_url,
        "TICKWIRE_REDIS_PREFIX": "bench",
        "TICKWIRE_FEED_SOURCE": "simulator",
        # Benchmark clients send nothing once subscribed.
        "WEBSOCKET_TIMEOUT": "3600",
        # As deployed: DEBUG off (DEBUG keeps a log of every SQL query).
        "DEBUG": "0",
        # Fewer SQLite writes beside the nodes' reads (quotes; bars close each minute).
        "TICKWIRE_PERSIST_INTERVAL": "5",
    }


def prepare(home: Path, count: int) -> None:
    """Migrate a fresh SQLite database in ``home`` and add ``count`` active assets (in a
    process of its own: Django is set up there, not in the harness)."""
    code = (
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', interactive=False, verbosity=0)\n"
        "from tickwire.assets.models import Asset\n"
        "from benchmarks.cluster import symbols\n"
        f"Asset.objects.bulk_create([Asset(symbol=s, name=s, current_price=100, "
        f"previous_close=100) for s in symbols({count})])\n"
    )
    env = base_env(home, "memory://")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if proc.returncode:
        raise RuntimeError(f"database setup failed:\n{proc.stderr[-3000:]}")


class _Process:
    """A product process in its own session, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = logs / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, core: int | None) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *self.args],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if core is not None:
            os.sched_setaffinity(self.proc.pid, {core})

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash: no drain, no close frames."""
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

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
            return self.log_path.read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            return ""


class NodeProc(_Process):
    """One server node: ``python -m tickwire.serve --no-setup`` on its own port."""

    def __init__(self, name: str, env: dict[str, str], logs: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        args = ["-m", "tickwire.serve", "--no-setup", "--host", "127.0.0.1"]
        args += ["--port", str(self.port), "--log-level", "warning"]
        super().__init__(name, args, env, logs)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/realtime/"

    def wait_listening(self, timeout: float = 120.0) -> float:
        """Poll (every 10 ms, bounded) until the port accepts a connection; returns the
        monotonic time it first did. Raises RuntimeError when the node exits or times out."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise RuntimeError(f"node {self.name} exited:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return time.monotonic()
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"node {self.name} not listening in {timeout:g}s:\n{self.log()}"
                    ) from None
                time.sleep(0.01)


class FeedProc(_Process):
    """The cluster's one price feed: ``manage.py start_price_feed`` with the simulator,
    each of its assets one tick every ``interval`` seconds, published through Redis."""

    def __init__(self, env: dict[str, str], logs: Path, interval: float, batch_size: int) -> None:
        args = ["manage.py", "start_price_feed", "--interval", f"{interval:g}"]
        args += ["--batch-size", str(batch_size)]
        super().__init__("feed", args, env, logs)


class Clients:
    """One :mod:`benchmarks.resume_clients` process, driven over stdin/stdout."""

    def __init__(self, name: str, logs: Path, core: int | None, mode: str) -> None:
        self.proc = Proc(name, ["-m", "benchmarks.resume_clients", "--mode", mode], logs, core)
        self.proc.expect("ready")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def connect(self, url: str, count: int, names: list[str], timeout: float) -> dict[str, Any]:
        """Open ``count`` clients to ``url``, client ``i`` subscribed to
        ``names[i % len(names)]``; returns when all are subscribed (or failed)."""
        return self.proc.ask(f"connect {url} {count} {','.join(names)}", "connected", timeout)

    def ask(self, line: str, event: str, timeout: float = 60.0) -> dict[str, Any]:
        return self.proc.ask(line, event, timeout)

    def stop(self) -> None:
        self.proc.stop()


def start_redis(logs: Path, core: int | None) -> RedisProc:
    return RedisProc(logs, core)


def cores() -> tuple[int | None, int | None]:
    """The two cores the benchmark pins to (servers, load), or no pinning on one core."""
    avail = sorted(os.sched_getaffinity(0))
    return (avail[0], avail[1]) if len(avail) >= 2 else (None, None)


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the phase's run(), which stops its processes


def phase_main(
    name: str,
    opts: Any,
    run: Any,
    render: Any,
    markers: tuple[str, str],
) -> int:
    """A cluster phase's command: stop cleanly on SIGTERM/SIGINT, raise the open-file limit,
    run it with its process logs in a temporary folder, print its block and write it between
    ``markers`` in ``opts.output`` (when given); exit status 1 if it failed."""
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    raise_nofile()
    logs = Path(tempfile.mkdtemp(prefix=f"tickwire-bench-{name}-"))
    result = run(opts, logs)
    block = render(result, opts)
    print(block)
    if opts.output is not None:
        write_block(opts.output, *markers, block)
        print(f"bench: {name} results written to {opts.output} (process logs in {logs})")
    if result.error:
        print(f"bench: FAILED {name}: {result.error}", file=sys.stderr)
        return 1
    return 0


@dataclass
class Cluster:
    """A running cluster (:func:`running`): its assets' symbols, the env its processes
    share, Redis, nodes A and B, the feed, the cores, and every process started so far."""

    names: list[str]
    env: dict[str, str]
    redis: RedisProc
    a: NodeProc
    b: NodeProc
    feed: FeedProc
    server_core: int | None
    load_core: int | None
    started: list[Any] = field(default_factory=list)

    def add(self, proc: Any) -> Any:
        """``proc``, remembered to be stopped with the cluster."""
        self.started.append(proc)
        return proc


@contextmanager
def running(
    phase: str, logs: Path, symbol_count: int, interval: float, batch: int
) -> Iterator[Cluster]:
    """A database of ``symbol_count`` assets, ``redis-server``, nodes A and B on the server
    core (listening) and the feed ticking every ``interval`` s in batches of ``batch`` on the
    load core; on exit every process the cluster started or was given (:meth:`Cluster.add`)
    is stopped, newest first, then Redis, and the database removed."""
    server_core, load_core = cores()
    home = Path(tempfile.mkdtemp(prefix="home-", dir=logs))
    names = symbols(symbol_count)
    print(f"bench: {phase}: database with {len(names)} assets ...", flush=True)
    prepare(home, len(names))
    redis: RedisProc | None = None
    started: list[Any] = []
    try:
        redis = RedisProc(logs, load_core)
        env = base_env(home, redis.url)
        a = NodeProc("node-a", env, logs)
        b = NodeProc("node-b", env, logs)
        for node in (a, b):
            node.start(server_core)
            started.append(node)
        for node in (a, b):
            node.wait_listening()
        feed = FeedProc(env, logs, interval, batch)
        feed.start(load_core)
        started.append(feed)
        yield Cluster(names, env, redis, a, b, feed, server_core, load_core, started)
    finally:
        for proc in reversed(started):
            proc.stop()
        if redis is not None:
            redis.stop()
        shutil.rmtree(home, ignore_errors=True)
