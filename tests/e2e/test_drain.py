"""Graceful drain end to end: SIGTERM a node under a live client, the client goes on on the
other node without losing an update.

A real redis-server, two uvicorn nodes, the feed process and nginx with the shipped site
(deploy/nginx/tickwire.conf) in front; the client is Tickwire's Python client through
nginx. The node the client landed on is found through its own /metrics, then sent
SIGTERM: it stops accepting, closes the socket with 1012 after what it still had queued,
and exits; the client reconnects at once (no backoff delay), nginx sends it to the other
node, and the resume continues every stream with the next seq (or says ``recovered:
false``, which the client reports as a Gap).
"""

from __future__ import annotations

import asyncio
import os
import signal
import urllib.error
import urllib.request

import pytest

from tests.e2e.test_scale_out import healthy, wait_until
from tests.infra import FeedProcess, NginxServer, RedisServer
from tests.servers import ServerProcess
from tickwire.client import AssetUpdate, Backoff, Client, ConnectionStatus, Gap

pytestmark = pytest.mark.e2e

SYMBOLS = ["AAPL", "MSFT"]


def metric(node: ServerProcess, prefix: str) -> float:
    """The sum of the node's samples whose line starts with ``prefix``, from its own
    /metrics (the test runs on loopback); -1 when the node does not answer."""
    try:
        with urllib.request.urlopen(node.url + "/metrics", timeout=5) as r:
            text = r.read().decode()
    except (OSError, urllib.error.URLError):
        return -1
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    )


def open_connections(node: ServerProcess) -> int:
    return int(metric(node, "tickwire_connections{"))


@pytest.fixture
def cluster(tmp_path):
    redis = RedisServer(tmp_path).start()
    env = {
        "TICKWIRE_BROKER_URL": redis.url,
        "TICKWIRE_REDIS_PREFIX": "drain",
        "TICKWIRE_NODE_HEARTBEAT_SECONDS": "0.2",
        "TICKWIRE_NODE_TIMEOUT_SECONDS": "1.5",
    }
    a = ServerProcess(tmp_path, env=env)
    b = ServerProcess(tmp_path, env=env)
    feed = FeedProcess(tmp_path, a.env, interval=0.05)
    proxy = NginxServer(tmp_path / "nginx", [a.port, b.port])
    try:
        a.start(wait_healthy=False)
        b.start(wait_healthy=False)
        feed.start()
        for node in (a, b):
            wait_until(lambda n=node: healthy(n), 60, f"health of {node.url}")
        proxy.start()
        yield a, b, proxy
    finally:
        proxy.stop()
        feed.stop()
        a.stop()
        b.stop()
        redis.stop()


async def test_sigterm_drains_a_node_and_the_client_continues_on_the_other(cluster):
    a, b, proxy = cluster
    events: list[object] = []
    # A long backoff: only the immediate reconnect after 1012 lets the stream go on in time.
    async with Client(proxy.ws_url, backoff=Backoff(initial=30, maximum=30)) as client:
        await client.subscribe(*SYMBOLS)

        async def read_updates(count: int) -> None:
            seen = 0
            while seen < count:
                event = await client.next_event(15)
                events.append(event)
                seen += isinstance(event, AssetUpdate)

        await read_updates(10)
        # The feed runs in its own process: each node reports it from its Redis heartbeat.
        for node in (a, b):
            up = 'tickwire_feed_source_up{feed="'
            assert await asyncio.to_thread(metric, node, up) == 1
        counts = await asyncio.to_thread(lambda: (open_connections(a), open_connections(b)))
        assert sorted(counts) == [0, 1], counts
        drained, other = (a, b) if counts[0] == 1 else (b, a)

        assert drained.proc is not None
        os.killpg(drained.proc.pid, signal.SIGTERM)
        mark = len(events)
        await read_updates(20)  # through the drain and the reconnect
        assert await asyncio.to_thread(open_connections, other) == 1
        exit_code = await asyncio.to_thread(drained.proc.wait, 15)

    # It drained and exited by itself within the bound; uvicorn re-raises the SIGTERM it
    # handled once shut down, so a supervisor sees a clean stop by that signal.
    assert exit_code == -signal.SIGTERM
    assert "graceful shutdown exceeded" not in drained.log()
    drops = [
        e for e in events[mark:] if isinstance(e, ConnectionStatus) and e.state == "disconnected"
    ]
    assert len(drops) == 1
    assert drops[0].close_code == 1012 and drops[0].retry_in == 0.0
    assert client.reconnects == 1
    # The shared history covers a drain: no stream had to say recovered:false (a Gap)...
    assert not [e for e in events if isinstance(e, Gap)]
    for symbol in SYMBOLS:
        seqs = [e.seq for e in events if isinstance(e, AssetUpdate) and e.symbol == symbol]
        assert len(seqs) >= 5, symbol
        # ...and every stream is contiguous across it: the other node replayed the rest.
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), (symbol, seqs)
