"""Faults under both clients: Redis paused, restarted and flushed; PostgreSQL stopped and
restarted; the feed process killed with SIGKILL.

One scaled-out deployment (Redis, PostgreSQL, a server node, the feed process) serves
the module. In every test the Python client (:class:`tickwire.client.Client`) and the
browser client (under Node) follow the same symbols through the fault, and the test
asserts what a user of either would notice: updates keep coming; where Redis lost the
channel, the client was told (a gap/resync), adopted the new epoch and delivers its seqs
even though they restart at 1; where nothing was lost, nothing is reported lost.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis

from tests.servers import wait_until

from .clients import JsStream, PyStream, Recorder
from .deploy import Deployment, start_deployment
from .figures import report
from .wire import get_json

pytestmark = pytest.mark.e2e

SYMBOLS = ["AAPL", "BTC-USD", "MSFT"]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    pg_dir = Path(tempfile.mkdtemp(prefix="tickwire-adv-pg-"))
    dep = start_deployment(tmp_path_factory.mktemp("faults"), pg_dir)
    try:
        wait_until(lambda: dep.health()[0] == 200, 90, "a healthy deployment")
        yield dep
    finally:
        dep.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)


@pytest.fixture
async def clients(deployment):
    py = await PyStream(deployment.node.ws_url, SYMBOLS).start()
    js = await JsStream(deployment.node.ws_url, SYMBOLS).start()
    try:
        for c in (py, js):
            await c.wait_for(
                lambda r: all(len(r.updates(symbol=s)) >= 3 for s in SYMBOLS), 30, "updates"
            )
        yield py, js
    finally:
        await py.stop()
        await js.stop()


def epochs_of(client: Recorder) -> dict[str, str | None]:
    return {s: client.updates(symbol=s)[-1].epoch for s in SYMBOLS}


def increasing(client: Recorder, since: int) -> None:
    """Within one epoch, each symbol's seqs only go up (conflation may skip, never repeat)."""
    for symbol in SYMBOLS:
        last: dict[str | None, int] = {}
        for row in client.updates(since, symbol):
            assert row.seq is not None
            assert row.seq > last.get(row.epoch, -1), f"{client.name} {symbol}: {row}"
            last[row.epoch] = row.seq


async def keeps_delivering(client: Recorder, mark: int, per_symbol: int = 10) -> None:
    await client.wait_for(
        lambda r: all(len(r.updates(mark, s)) >= per_symbol for s in SYMBOLS),
        45,
        f"{per_symbol} updates per symbol after the fault",
    )


async def test_redis_paused_and_continued_loses_nothing(deployment, clients):
    before = {c.name: epochs_of(c) for c in clients}
    marks = [c.mark() for c in clients]
    deployment.pause_redis()
    try:
        await asyncio.sleep(3)
    finally:
        deployment.resume_redis()
    for c, mark in zip(clients, marks, strict=True):
        await keeps_delivering(c, mark)
        increasing(c, mark)
        # Redis kept its data: same epoch, and no gap reported to anyone.
        assert epochs_of(c) == before[c.name]
        assert not [r for r in c.rows[mark:] if r.kind in ("gap", "resync")], c.name
    report("Redis STOP/CONT", "3 s paused: both clients continued in the same epoch, no gap")


async def _lost_redis_data(deployment: Deployment, clients, fault, name: str) -> None:
    old_epochs = {c.name: epochs_of(c) for c in clients}
    old_top = {c.name: max(r.seq for r in c.updates()) for c in clients}
    marks = [c.mark() for c in clients]
    started = time.monotonic()
    await asyncio.to_thread(fault)
    for c, mark in zip(clients, marks, strict=True):
        # Told: a gap per symbol (the Python client's Gap, the JS client's "gap") ...
        await c.wait_for(
            lambda r, mark=mark: (
                {x.symbol for x in r.rows[mark:] if x.kind == "gap"} >= set(SYMBOLS)
            ),
            45,
            "a gap for every symbol",
        )

        # ... then updates in the new epoch, whose seqs restarted at 1: delivered, not
        # dropped as duplicates of the old epoch's higher seqs.
        def fresh(r: Recorder, mark: int = mark, c: Recorder = c) -> bool:
            return all(
                len(
                    [
                        u
                        for u in r.updates(mark, s)
                        if u.epoch != old_epochs[c.name][s] and u.seq < old_top[c.name]
                    ]
                )
                >= 5
                for s in SYMBOLS
            )

        await c.wait_for(fresh, 45, "5 new-epoch updates per symbol with restarted seqs")
        new = epochs_of(c)
        assert all(new[s] != old_epochs[c.name][s] for s in SYMBOLS), (c.name, new)
        increasing(c, mark)
    took = time.monotonic() - started
    status, _ = await asyncio.to_thread(deployment.health)
    report(
        name,
        f"both clients told of the gap, adopted the new epoch and delivered its restarted "
        f"seqs within {took:.1f} s; health {status}",
    )


async def test_redis_restart_both_clients_resync_and_keep_delivering(deployment, clients):
    await _lost_redis_data(deployment, clients, deployment.redis.restart, "Redis restart")


async def test_redis_flushall_both_clients_resync_and_keep_delivering(deployment, clients):
    def flushall() -> None:
        with redis.Redis.from_url(deployment.redis.url) as r:
            r.flushall()

    await _lost_redis_data(deployment, clients, flushall, "Redis FLUSHALL")


async def test_after_a_resync_both_clients_resume_recovered_from_the_new_epoch(deployment, clients):
    """A client that adopted the new epoch resumes from it: after a node restart (close
    1012, reconnect) the server can replay what was missed, so nobody sees a gap."""

    def flushall() -> None:
        with redis.Redis.from_url(deployment.redis.url) as r:
            r.flushall()

    await _lost_redis_data(deployment, clients, flushall, "Redis FLUSHALL, then resume")
    marks = [c.mark() for c in clients]
    await asyncio.to_thread(deployment.node.stop)
    await asyncio.to_thread(deployment.node.start, 60.0, False)
    for c, mark in zip(clients, marks, strict=True):
        await c.wait_for(
            lambda r, mark=mark: [x for x in r.rows[mark:] if x.kind == "state"], 30, "a reconnect"
        )
        await keeps_delivering(c, mark)
        increasing(c, mark)
        assert not [r for r in c.rows[mark:] if r.kind in ("gap", "resync")], (
            c.name,
            [r for r in c.rows[mark:] if r.kind != "update"],
        )


def rest_status(deployment: Deployment) -> int:
    try:
        return get_json(deployment.node.url + "/api/assets/", timeout=10)[0]
    except OSError:
        return 0


async def test_postgres_stopped_and_restarted(deployment, clients):
    marks = [c.mark() for c in clients]
    assert rest_status(deployment) == 200
    await asyncio.to_thread(deployment.postgres.stop)
    try:
        # Health says the database is down ...
        await asyncio.to_thread(
            wait_until, lambda: deployment.health()[0] == 503, 30, "health 503 without a database"
        )
        _, body = await asyncio.to_thread(deployment.health)
        assert body.get("database") != "ok", body
        # ... while the streams, which do not need it, go on for both clients.
        for c, mark in zip(clients, marks, strict=True):
            await keeps_delivering(c, mark, per_symbol=5)
        down_status = await asyncio.to_thread(rest_status, deployment)
    finally:
        await asyncio.to_thread(deployment.postgres.launch)
    await asyncio.to_thread(
        wait_until, lambda: deployment.health()[0] == 200, 60, "health back with the database"
    )
    await asyncio.to_thread(
        wait_until, lambda: rest_status(deployment) == 200, 30, "REST back with the database"
    )
    marks = [c.mark() for c in clients]
    for c, mark in zip(clients, marks, strict=True):
        await keeps_delivering(c, mark, per_symbol=5)
        increasing(c, mark)
    report(
        "PostgreSQL stop/restart",
        f"health 503 while down (database: {body.get('database')!r}), REST answered "
        f"{down_status}; both clients kept delivering; health and REST 200 after restart",
    )


async def test_rest_answers_503_with_retry_after_while_postgres_is_down(deployment):
    await asyncio.to_thread(deployment.postgres.stop)
    try:
        await asyncio.to_thread(
            wait_until, lambda: deployment.health()[0] == 503, 30, "health 503 without a database"
        )

        def answer() -> tuple[int, str | None]:
            try:
                with urllib.request.urlopen(deployment.node.url + "/api/assets/", timeout=10) as r:
                    return r.status, r.headers.get("Retry-After")
            except urllib.error.HTTPError as e:
                return e.code, e.headers.get("Retry-After")

        status, retry_after = await asyncio.to_thread(answer)
    finally:
        await asyncio.to_thread(deployment.postgres.launch)
        await asyncio.to_thread(
            wait_until, lambda: deployment.health()[0] == 200, 60, "health back"
        )
    assert status == 503 and retry_after is not None, (status, retry_after)


async def test_feed_killed_then_restarted(deployment, clients):
    status, body = await asyncio.to_thread(deployment.health)
    assert status == 200 and body["price_feed_running"] is True
    await asyncio.to_thread(deployment.kill_feed)
    try:
        await asyncio.to_thread(
            wait_until, lambda: deployment.health()[0] == 503, 30, "health 503 without a feed"
        )
        status, body = await asyncio.to_thread(deployment.health)
        assert body["price_feed_running"] is False
        # The sockets stay open with nothing to deliver; the clients still answer pings.
        before = {c.name: epochs_of(c) for c in clients}
        marks = [c.mark() for c in clients]
    finally:
        await asyncio.to_thread(deployment.feed.start)
    await asyncio.to_thread(
        wait_until, lambda: deployment.health()[0] == 200, 60, "health back with the feed"
    )
    for c, mark in zip(clients, marks, strict=True):
        await keeps_delivering(c, mark)
        increasing(c, mark)
        # Redis kept the channels: the restarted feed continues the same epochs, and no
        # client was told of a loss.
        assert epochs_of(c) == before[c.name]
        assert not [r for r in c.rows[mark:] if r.kind in ("gap", "resync")], c.name
    report(
        "feed SIGKILL",
        "health 503 (price_feed_running false) once its heartbeat expired; after a restart "
        "both clients continued in the same epochs",
    )
