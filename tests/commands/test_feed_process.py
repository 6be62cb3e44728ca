"""The feed as its own process: the feedprocess functions, and a real process stopped by
SIGTERM. The cross-process force-update test needs Redis (issue 5's broker) and is
skipped where that is not available."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import orjson
import pytest

from tests.servers import ROOT
from tests.stream.feeds.fakes import eventually
from tickwire.assets.models import Asset, PriceBar
from tickwire.realtime.feedprocess import (
    FeedOptions,
    MemoryBrokerFeedError,
    UnknownSymbolsError,
    run_feed_process,
)
from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.feeds import CONTROL_CHANNEL, control_message


async def test_runs_takes_control_messages_and_persists_on_stop(demo, settings):
    settings.TICKWIRE_PERSIST_INTERVAL = 3600  # only the final flush writes
    broker = MemoryBroker()
    stop = asyncio.Event()
    options = FeedOptions(interval=0.01, batch_size=4, symbols=("AAPL", "MSFT"))
    task = asyncio.ensure_future(run_feed_process(options, broker=broker, stop=stop))
    await eventually(lambda: broker._channels.get("asset.AAPL") is not None, "AAPL updates")
    top = (await broker.top("asset.MSFT"))[0]
    await broker.publish(CONTROL_CHANNEL, control_message(["MSFT"]))
    await eventually(lambda: broker._channels["asset.MSFT"].seq > top, "the forced update")
    stop.set()
    feed = await asyncio.wait_for(task, 10)
    assert feed.running is False and feed.forced_updates == 1
    latest = orjson.loads((await broker.latest("asset.AAPL")).frame)
    aapl = await Asset.objects.aget(symbol="AAPL")
    assert float(aapl.current_price) == latest["data"]["price"]  # the last quote was written
    assert await PriceBar.objects.filter(asset=aapl, interval="1m").aexists()
    assert feed.status()["bars_pending"] == 0
    assert not await PriceBar.objects.filter(asset__symbol="TSLA").aexists()


async def test_memory_broker_is_refused_with_an_explanation(demo):
    with pytest.raises(MemoryBrokerFeedError, match="TICKWIRE_BROKER_URL"):
        await run_feed_process(FeedOptions(interval=1, batch_size=1))


async def test_unknown_symbols_are_named(demo):
    options = FeedOptions(interval=1, batch_size=1, symbols=("AAPL", "NOPE", "ZZZ"))
    with pytest.raises(UnknownSymbolsError, match="NOPE, ZZZ"):
        await run_feed_process(options, broker=MemoryBroker())


SCRIPT = textwrap.dedent(
    """
    import asyncio, django
    django.setup()
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
    call_command("load_demo_data", verbosity=0)
    from tickwire.realtime.feedprocess import FeedOptions, run_feed_process
    from tickwire.stream.brokers import MemoryBroker
    import logging
    logging.getLogger("tickwire").setLevel(logging.INFO)
    feed = asyncio.run(run_feed_process(
        FeedOptions(interval=0.02, batch_size=5, verbose=True), broker=MemoryBroker()))
    print("exited cleanly after", feed.published, "updates", flush=True)
    """
)


def test_sigterm_stops_the_process_cleanly_with_everything_written(tmp_path):
    db = tmp_path / "feed.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tickwire.settings.local",
        "DATABASE_URL": f"sqlite:///{db}",
        "TICKWIRE_PERSIST_INTERVAL": "3600",
        "TICKWIRE_SIMULATOR_SEED": "5",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "feed.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 60
            while "batch 3:" not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.05)
            assert "batch 3:" in log.read_text(), log.read_text()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    text = log.read_text()
    assert "price feed stopped after" in text and "exited cleanly after" in text
    # One line per batch with --verbose: "batch N: T ticks, U updates published (...)".
    assert "batch 1: 5 ticks, 5 updates published (AAPL, AMZN, BRK.B, BTC-USD, ETH-USD)" in text
    with sqlite3.connect(db) as conn:
        updated = conn.execute(
            "SELECT count(*) FROM assets_asset WHERE last_updated > datetime('now', '-1 hour')"
        ).fetchone()[0]
        bars = conn.execute("SELECT count(*) FROM assets_pricebar WHERE interval='1m'").fetchone()[
            0
        ]
    # Persisting was left to the shutdown (interval 3600 s): all 15 quotes and bars made it.
    assert updated == 15 and bars >= 15


def test_start_price_feed_command_across_processes(tmp_path):
    from tests.servers import free_port

    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = tmp_path / "db.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tickwire.settings.local",
        "DATABASE_URL": f"sqlite:///{db}",
        "TICKWIRE_BROKER_URL": f"redis://127.0.0.1:{port}/0",
    }
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        subprocess.run(
            [sys.executable, "manage.py", "load_demo_data", "-v0"], cwd=ROOT, env=env, check=True
        )
        feed = subprocess.Popen(
            [sys.executable, "manage.py", "start_price_feed", "--interval", "0.05", "--verbose"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            line = b""
            deadline = time.monotonic() + 60
            while b"batch 2:" not in line and time.monotonic() < deadline:
                line = feed.stdout.readline()
                assert line or feed.poll() is None
            os.killpg(feed.pid, signal.SIGTERM)
            assert feed.wait(30) == 0
        finally:
            if feed.poll() is None:
                os.killpg(feed.pid, signal.SIGKILL)
    finally:
        redis.terminate()
        redis.wait(10)
