"""KabuStation PUSH adapter against a fake KabuStation (REST + PUSH WebSocket)."""

from __future__ import annotations

import pytest

from tickwire.stream.feeds import Instrument, SourceConfigError, Tick
from tickwire.stream.feeds.kabu import KabuStationSource

from .conftest import CRYPTO, STOCKS
from .fakes import Consumer, FakeHttpServer, FakeWsServer, Reply, eventually, sample

KABU = sample("kabu.json")
JP = [
    Instrument("TOYOTA", 2400.0, kind="stock", currency="JPY"),
    Instrument("9433", 4500.0, kind="stock", currency="JPY"),
]


class FakeKabuRest:
    """POST /kabusapi/token checks the password; PUT /kabusapi/register checks the token.

    As in KabuStation, only the latest token is valid: each new one voids the others.
    """

    def __init__(self, password="pw"):
        self.password = password
        self.tokens = 0

    def route(self, seen):
        if seen.method == "POST" and seen.path == "/kabusapi/token":
            if seen.body != {"APIPassword": self.password}:
                return Reply(400, {"Code": 4001007, "Message": "ログイン認証エラー"})
            self.tokens += 1
            return Reply(body={**KABU["token"], "Token": f"tok{self.tokens}"})
        if seen.method == "PUT" and seen.path == "/kabusapi/register":
            if seen.headers.get("X-API-KEY") != f"tok{self.tokens}":
                return Reply(401, {"Code": 4001009, "Message": "APIキー不一致"})
            return Reply(body={"RegistList": seen.body["Symbols"]})
        return Reply(404, {"Message": "not found"})


def kabu(rest: FakeHttpServer, ws: FakeWsServer, password="pw", **kw) -> KabuStationSource:
    return KabuStationSource(
        JP,
        api_url=rest.url + "/kabusapi",
        url=ws.url("/kabusapi/websocket"),
        password=password,
        symbol_map={"TOYOTA": "7203", "9433": "9433"},
        backoff_initial=0.01,
        backoff_max=0.05,
        **kw,
    )


async def test_token_register_then_push_messages_become_ticks():
    fake = FakeKabuRest()
    with FakeHttpServer(fake.route) as rest:
        async with FakeWsServer() as ws:
            source = kabu(rest, ws)
            consumer = Consumer(source)
            conn = await ws.next_connection()
            for message in KABU["messages"]:
                await conn.send(message)
            ticks = await consumer.wait_ticks(3)
            await consumer.close()
    token, register = rest.requests[:2]
    assert token.body == {"APIPassword": "pw"}
    assert register.headers["X-API-KEY"] == "tok1"
    assert register.body == {
        "Symbols": [{"Symbol": "7203", "Exchange": 1}, {"Symbol": "9433", "Exchange": 1}]
    }
    assert conn.path == "/kabusapi/websocket"
    # 15:00 JST is 06:00 UTC; the volume is the day's, each tick trades the increase.
    assert ticks == [
        Tick("TOYOTA", 2408.0, 0.0, 1795154400.0, 4571500.0),
        Tick("TOYOTA", 2409.0, 300.0, 1795154401.0, 4571800.0),
        Tick("9433", 4512.0, 0.0, 1795154401.0, 8123400.0),
    ]
    assert source.status()["registered"] == 2


async def test_reconnect_reuses_the_token_and_registers_again():
    fake = FakeKabuRest()
    with FakeHttpServer(fake.route) as rest:
        async with FakeWsServer() as ws:
            source = kabu(rest, ws)
            consumer = Consumer(source)
            first = await ws.next_connection()
            first.drop()
            second = await ws.next_connection()
            await second.send(KABU["messages"][1])
            await consumer.wait_ticks(1)
            await consumer.close()
    assert [r.path for r in rest.requests] == [
        "/kabusapi/token",
        "/kabusapi/register",
        "/kabusapi/register",
    ]
    assert rest.requests[2].headers["X-API-KEY"] == "tok1"
    assert source.status()["tokens_fetched"] == 1 and fake.tokens == 1


async def test_a_refused_token_is_replaced_once_and_registration_goes_on():
    fake = FakeKabuRest()
    with FakeHttpServer(fake.route) as rest:
        async with FakeWsServer() as ws:
            source = kabu(rest, ws)
            consumer = Consumer(source)
            first = await ws.next_connection()
            fake.tokens += 1  # another client of the station took a token: ours is void
            first.drop()
            second = await ws.next_connection()
            await second.send(KABU["messages"][1])
            await consumer.wait_ticks(1)
            await consumer.close()
    assert [(r.method, r.path) for r in rest.requests] == [
        ("POST", "/kabusapi/token"),
        ("PUT", "/kabusapi/register"),
        ("PUT", "/kabusapi/register"),  # refused: 401, code 4001009
        ("POST", "/kabusapi/token"),
        ("PUT", "/kabusapi/register"),
    ]
    assert rest.requests[4].headers["X-API-KEY"] == "tok3"
    assert source.status()["tokens_fetched"] == 2 and source.registered == 2


async def test_a_token_refused_as_soon_as_it_is_fetched_is_an_error_retried_with_backoff():
    fake = FakeKabuRest()
    refuse = lambda seen: (  # noqa: E731
        Reply(401, {"Code": 4001009, "Message": "APIキー不一致"})
        if seen.path == "/kabusapi/register"
        else fake.route(seen)
    )
    with FakeHttpServer(refuse) as rest:
        async with FakeWsServer() as ws:
            source = kabu(rest, ws)
            consumer = Consumer(source)
            await eventually(lambda: source.stats.errors >= 2, "two failed attempts")
            await consumer.close()
            assert ws.connections == []
    # One token per attempt, never two in a row for the same refusal.
    paths = [r.path for r in rest.requests]
    assert paths[:4] == ["/kabusapi/token", "/kabusapi/register"] * 2
    assert "register failed: HTTP 401" in source.status()["last_error"]


async def test_a_quiet_evening_keeps_the_socket_and_the_token():
    fake = FakeKabuRest()
    with FakeHttpServer(fake.route) as rest:
        async with FakeWsServer() as ws:
            source = kabu(rest, ws, silence_timeout=0.3)
            consumer = Consumer(source)
            conn = await ws.next_connection()
            # No board message for four silence timeouts; the socket answers pings.
            await conn.wait_client_pings(12)
            status = source.status()
            await consumer.close()
    assert fake.tokens == 1 and len(ws.connections) == 1
    assert status["tokens_fetched"] == 1 and status["reconnects"] == 0
    assert status["connected"] is True and status["state"] == "quiet"


def test_with_a_symbol_map_only_the_mapped_symbols_are_served():
    source = KabuStationSource(
        JP + STOCKS + CRYPTO, password="pw", symbol_map={"TOYOTA": "7203", "KDDI": "9433@3"}
    )
    assert source.registrations == [{"Symbol": "7203", "Exchange": 1}]
    assert dict(source.symbols.to_provider) == {"TOYOTA": "7203"}
    unmapped = KabuStationSource(JP, password="pw", exchange=3)
    assert unmapped.registrations == [
        {"Symbol": "TOYOTA", "Exchange": 3},
        {"Symbol": "9433", "Exchange": 3},
    ]


async def test_wrong_password_is_reported_and_retried_without_connecting():
    fake = FakeKabuRest(password="right")
    with FakeHttpServer(fake.route) as rest:
        async with FakeWsServer() as ws:
            source = kabu(rest, ws, password="wrong")
            consumer = Consumer(source)
            await eventually(lambda: source.stats.errors >= 2, "two failed attempts")
            await consumer.close()
            assert ws.connections == []
    assert "token request failed: HTTP 400" in source.status()["last_error"]


async def test_malformed_board_messages_are_counted():
    with FakeHttpServer(FakeKabuRest().route) as rest:
        async with FakeWsServer() as ws:
            source = kabu(rest, ws)
            consumer = Consumer(source)
            conn = await ws.next_connection()
            for message in KABU["malformed"]:
                await conn.send(message)
            await conn.send(KABU["messages"][2])
            ticks = await consumer.wait_ticks(1)
            await consumer.close()
    assert [t.symbol for t in ticks] == ["9433"]
    # A board without a price yet (before the first trade) is not malformed.
    assert source.stats.malformed == 1


def test_kabu_needs_a_password_and_at_most_50_symbols():
    with pytest.raises(SourceConfigError, match="password"):
        KabuStationSource(JP)
    many = [Instrument(str(1000 + i), 100.0) for i in range(51)]
    with pytest.raises(SourceConfigError, match="at most 50"):
        KabuStationSource(many, password="pw")
