"""Hostile requests over a real socket: every one is answered, and the socket goes on.

docs/protocol.md: "The connection stays open after every error — only the policy
violations close it." Each frame below gets an ``error`` reply with a documented code, and
a ``ping`` on the same socket is still answered. A storm of the worst of them leaves the
server's connection count where it was.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.servers import wait_until

from .figures import report
from .wire import OP_BINARY, OP_TEXT, RawSocket, active_connections

pytestmark = pytest.mark.e2e

DOCUMENTED_CODES = {
    "invalid_json", "invalid_message", "unknown_type", "missing_field", "invalid_field",
    "unknown_symbol", "subscription_limit", "authentication_required",
    "authentication_failed", "portfolio_not_found", "rate_limited", "internal_error",
}  # fmt: skip

UNICODE_DIGIT_PID = {"type": "subscribe_portfolio", "data": {"portfolio_id": "\u00b2"}}

HOSTILE = [
    pytest.param(OP_TEXT, b"{", id="truncated JSON"),
    pytest.param(OP_BINARY, b"\xff\xfe{}", id="binary, not UTF-8"),
    pytest.param(OP_TEXT, b"[" * 5000 + b"]" * 5000, id="nested 5000 deep"),
    pytest.param(OP_TEXT, b'{"type": "ping", "id": 1e400}', id="id out of float range"),
    pytest.param(
        OP_TEXT, b'{"type": "subscribe", "symbol": "AAPL", "since": 99999999999999999999999}',
        id="since past 64 bits",
    ),
    pytest.param(OP_TEXT, json.dumps({"type": "x" * 10000}).encode(), id="10 KB type"),
    pytest.param(
        OP_TEXT, json.dumps({"type": "subscribe", "symbols": ["A"] * 1001}).encode(),
        id="1001 symbols",
    ),
    pytest.param(
        OP_TEXT, json.dumps({"type": "subscribe", "symbol": "AAPL", "epoch": {"MSFT": "e"}}).encode(),
        id="epoch for another symbol",
    ),
    pytest.param(
        OP_TEXT, json.dumps({"type": "authenticate", "data": {"token": "t" * 600}}).encode(),
        id="600-character token",
    ),
    pytest.param(
        OP_TEXT, json.dumps({"type": "subscribe_portfolio", "data": {"portfolio_id": 2**63}}).encode(),
        id="portfolio_id 2**63",
    ),
    pytest.param(
        OP_TEXT, json.dumps(UNICODE_DIGIT_PID).encode(), id="portfolio_id '²'",
    ),
    pytest.param(
        OP_TEXT, json.dumps({"type": "subscribe", "symbol": "\u017fpy"}).encode(),
        id="symbol with a long s",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("opcode", "payload"), HOSTILE)
def test_hostile_request_gets_an_error_and_the_socket_goes_on(tickwire_server, opcode, payload):
    raw = RawSocket.connect(tickwire_server.port)
    try:
        raw.recv_json("connection")
        raw.send(opcode, payload)
        reply = raw.recv_json()
        assert reply["type"] == "error", reply
        assert reply["data"]["code"] in DOCUMENTED_CODES
        raw.send_json({"type": "ping", "id": "after"})
        assert raw.recv_json("pong")["id"] == "after"
    finally:
        raw.close()


def hostile_then_close(port: int) -> None:
    raw = RawSocket.connect(port)
    try:
        raw.recv_json("connection")
        raw.send_json(UNICODE_DIGIT_PID)
        raw.drain(timeout=2)
    finally:
        raw.close()


async def test_a_storm_of_malformed_requests_leaks_no_connection(tickwire_server):
    base = await asyncio.to_thread(active_connections, tickwire_server.url)
    gate = asyncio.Semaphore(50)

    async def one() -> None:
        async with gate:
            await asyncio.to_thread(hostile_then_close, tickwire_server.port)

    await asyncio.gather(*(one() for _ in range(300)))
    left = await asyncio.to_thread(active_connections, tickwire_server.url)
    report("malformed-request storm", f"300 clients, server count {base} -> {left} after")
    await asyncio.to_thread(
        wait_until,
        lambda: (active_connections(tickwire_server.url) or 0) <= base,
        10,
        "the connection count back where it was",
    )
