"""``update_asset_prices`` next to a running feed: the one-off price goes through the feed.

Real processes throughout: the embedded server (``python -m tickwire.serve``, memory broker,
the feed inside it) on a fresh TICKWIRE_HOME, or Redis with a node and a feed process; the
command run as a user runs it (``tickwire manage update_asset_prices``) with a replay
source, so its price is known; a WebSocket client subscribed to the symbol.

The server's own feed replays ticks for AAPL only, so any MSFT update a client sees, and
MSFT's price in the database, can only come from the command.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.infra import FeedProcess, RedisServer
from tests.servers import ROOT, ServerProcess, wait_until

pytestmark = pytest.mark.e2e

PRICE = 432.1
TICKWIRE = Path(sys.executable).parent / "tickwire"


@pytest.fixture
def home(request) -> Iterator[Path]:
    # Short on purpose: a Unix socket path has at most 107 bytes.
    path = Path(tempfile.mkdtemp(prefix="tw-", dir="/tmp"))
    if os.environ.get("TICKWIRE_TEST_DATABASE") == "postgres":
        # Not the e2e session's shared database, whose server's feed writes MSFT too.
        pg = request.getfixturevalue("postgres_server")
        url = pg.create_database("tickwire_oneoff_" + path.name[3:].lower().replace("-", "_"))
    else:
        url = f"sqlite:///{path / 'db.sqlite3'}"
    # The user's configuration, where `tickwire manage` finds it.
    (path / ".env").write_text(f"DATABASE_URL={url}\n")
    (path / "server-feed.csv").write_text(
        "symbol,price,volume,ts\n" + "".join(f"AAPL,{200 + i},1,{i + 1}\n" for i in range(50))
    )
    (path / "quote.csv").write_text(f"symbol,price,volume,ts\nMSFT,{PRICE},7,1\n")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def feed_env(home: Path) -> dict[str, str]:
    """The server's settings: its home's database, and a replay of AAPL as its feed."""
    database = (home / ".env").read_text().strip().removeprefix("DATABASE_URL=")
    return {
        "DATABASE_URL": database,
        "TICKWIRE_FEED_SOURCE": "replay",
        "TICKWIRE_FEED_FILE": str(home / "server-feed.csv"),
        "TICKWIRE_FEED_LOOP": "true",
    }


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """A user's shell: TICKWIRE_HOME, no test settings, no HOST/PORT from `make test`."""
    drop = ("HOST", "PORT", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("TICKWIRE_")}
    return {**env, "TICKWIRE_HOME": str(home), "PYTHONUNBUFFERED": "1", **extra}


def update_args(home: Path, ack_timeout: str = "20") -> list[str]:
    return [
        str(TICKWIRE),
        "manage",
        "update_asset_prices",
        "--symbols",
        "MSFT",
        "--source",
        "replay",
        "--option",
        f"file={home / 'quote.csv'}",
        "--option",
        "speed=0",
        "--ack-timeout",
        ack_timeout,
    ]


def run_update(home: Path, ack_timeout: str = "20", **extra: str) -> tuple[int, str]:
    proc = subprocess.Popen(
        update_args(home, ack_timeout),
        cwd=ROOT,
        env=user_env(home, PYTHONFAULTHANDLER="1", **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        # SIGABRT makes the faulthandler print where every thread is stuck.
        proc.send_signal(signal.SIGABRT)
        out, _ = proc.communicate(timeout=30)
        raise AssertionError(f"update_asset_prices did not finish:\n{out}") from None
    return proc.returncode, out


def rest_price(server: ServerProcess, symbol: str = "MSFT") -> float:
    with urllib.request.urlopen(f"{server.url}/api/assets/{symbol}/", timeout=5) as r:
        return float(json.loads(r.read())["price"])


async def recv(ws, timeout: float = 10.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def update_while_subscribed(server: ServerProcess, home: Path, **extra: str):
    """Subscribe to MSFT, run the command; (snapshot, the first MSFT update after it or
    None, exit status, output)."""

    async def next_msft(ws) -> dict:
        while True:
            msg = await recv(ws, 120)
            if msg["type"] == "asset_update" and msg["data"]["symbol"] == "MSFT":
                return msg

    async with connect(server.ws_url) as ws:
        assert (await recv(ws))["type"] == "connection"
        await ws.send(json.dumps({"type": "subscribe_asset", "data": {"symbols": ["MSFT"]}}))
        snapshot = await next_msft(ws)
        reader = asyncio.ensure_future(next_msft(ws))
        proc = await asyncio.create_subprocess_exec(
            *update_args(home),
            cwd=ROOT,
            env=user_env(home, **extra),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 120)
            try:
                update = await asyncio.wait_for(reader, 15) if proc.returncode == 0 else None
            except TimeoutError:
                update = None
        finally:
            reader.cancel()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    return snapshot, update, proc.returncode, out.decode()


async def test_the_embedded_servers_feed_carries_the_commands_price(home):
    server = ServerProcess(home, env=feed_env(home))
    server.start()
    try:
        sock = home / "run" / "control.sock"
        assert stat.S_ISSOCK(sock.stat().st_mode)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        before = rest_price(server)
        assert before != PRICE
        snapshot, update, code, out = await update_while_subscribed(server, home)
        assert code == 0, out
        assert update is not None, out
        assert update["data"]["price"] == PRICE and update["seq"] == snapshot["seq"] + 1
        assert (
            f"sent through the running price feed (embedded server pid {server.proc.pid}): "
            "1 published, 0 rejected" in out
        ), out
        assert f"{before:g} -> {PRICE:g}" in out
        # Persisted right after it was applied; the feed's next batches keep it.
        assert rest_price(server) == PRICE
        time.sleep(1.5)  # three of the feed's persistence rounds (0.5 s here)
        assert rest_price(server) == PRICE
    finally:
        server.stop()
    assert not sock.exists(), "a cleanly stopped server removes its control socket"
    # No server: written directly, and said so.
    (home / "quote.csv").write_text("symbol,price,volume,ts\nMSFT,99.5,7,1\n")
    code, out = run_update(home)
    assert code == 0, out
    assert "no price feed is running: written to the database" in out
    server.start()
    try:
        assert rest_price(server) == 99.5
    finally:
        server.stop()


def test_a_stale_socket_of_a_killed_server_is_not_waited_on(home):
    server = ServerProcess(home, env=feed_env(home))
    server.start()
    server.kill()
    sock = home / "run" / "control.sock"
    assert sock.exists()
    code, out = run_update(home)
    assert code == 0, out
    assert "stale control socket" in out
    assert "no price feed is running: written to the database" in out
    # The next server replaces the stale socket, and starts from the written price.
    server.start()
    try:
        assert stat.S_ISSOCK(sock.stat().st_mode)
        assert rest_price(server) == PRICE
        snapshot, update, code, out = asyncio.run(update_while_subscribed(server, home))
        assert code == 0 and "embedded server pid" in out, out
        assert update is not None and update["seq"] == snapshot["seq"] + 1
    finally:
        server.stop()


def test_a_server_that_does_not_answer_gets_no_direct_write_either(home):
    server = ServerProcess(home, env=feed_env(home))
    server.start()
    try:
        before = rest_price(server)
        os.killpg(server.proc.pid, signal.SIGSTOP)
        try:
            code, out = run_update(home, ack_timeout="2")
        finally:
            os.killpg(server.proc.pid, signal.SIGCONT)
        assert code == 1, out
        assert "embedded server's price feed did not answer" in out
        assert "nothing was written" in out
        # Woken up, the server reads the request it was sent, and refuses it: expired.
        wait_until(lambda: "expired unapplied" in server.log(), 30, "the expired request")
        assert rest_price(server) == before
    finally:
        server.stop()


async def test_a_feed_process_on_redis_carries_the_commands_price(home):
    redis = RedisServer(home).start()
    env = {
        "TICKWIRE_BROKER_URL": redis.url,
        "TICKWIRE_REDIS_PREFIX": "oneoff",
        "TICKWIRE_NODE_HEARTBEAT_SECONDS": "0.2",
        "TICKWIRE_NODE_TIMEOUT_SECONDS": "2",
        **feed_env(home),
    }
    node = ServerProcess(home, env=env)
    feed = FeedProcess(home, node.env)
    try:
        node.start(wait_healthy=False)
        feed.start()
        wait_until(lambda: _healthy(node), 60, "the node's health with the feed process")
        shared = {k: v for k, v in env.items() if k not in feed_env(home)}
        assert "DATABASE_URL" not in shared  # the command reads it from TICKWIRE_HOME/.env
        _, update, code, out = await update_while_subscribed(node, home, **shared)
        assert code == 0, out + feed.log()
        assert update is not None and update["data"]["price"] == PRICE, out + feed.log()
        assert f"sent through the running price feed (feed process on {redis.url}): " in out
        assert "1 published, 0 rejected" in out
        assert rest_price(node) == PRICE
        # The feed process stopped: once its heartbeat is gone (at once on a clean stop,
        # after TICKWIRE_NODE_TIMEOUT_SECONDS if it died), the command writes directly.
        feed.stop()
        wait_until(lambda: not _healthy(node), 30, "the node to see no feed process")
        (home / "quote.csv").write_text("symbol,price,volume,ts\nMSFT,77.25,7,1\n")
        code, out = run_update(home, **shared)
        assert code == 0 and "no price feed is running: written to the database" in out, out
        assert rest_price(node) == 77.25
    finally:
        feed.stop()
        node.stop()
        redis.stop()


def _healthy(server: ServerProcess) -> bool:
    try:
        with urllib.request.urlopen(server.url + "/realtime/health/", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def test_an_unreachable_redis_writes_nothing(home):
    server = ServerProcess(home, env=feed_env(home))
    server.start()  # migrates and loads the demo data
    server.stop()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    url = f"redis://127.0.0.1:{closed_port}/0"
    code, out = run_update(home, TICKWIRE_BROKER_URL=url)
    assert code == 1, out
    assert f"cannot reach the broker {url} to find the running price feed" in out
    assert "nothing was written" in out
    server.start()
    try:
        assert rest_price(server) != PRICE
    finally:
        server.stop()
