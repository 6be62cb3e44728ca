"""Malformed requests against a real server: an error reply, no leaked connection or slot."""

import asyncio
import json
import urllib.request

import pytest
from websockets.asyncio.client import connect

pytestmark = pytest.mark.e2e

SUPERSCRIPT_TWO = json.dumps({"type": "subscribe_portfolio", "data": {"portfolio_id": "\u00b2"}})


async def recv(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def get_json(url, data=None):
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


async def active_connections(server, want, rounds=100):
    """Poll the health count until it is ``want`` (bounded), and return the last value."""
    count = None
    for _ in range(rounds):
        body = await asyncio.to_thread(get_json, server.url + "/realtime/health/")
        count = body["active_connections"]
        if count == want:
            break
        await asyncio.sleep(0.05)
    return count


async def test_malformed_ids_from_an_authenticated_user_never_lock_them_out(server):
    token = get_json(server.url + "/api/auth/token/", {"username": "demo", "password": "demo"})
    headers = {"Authorization": f"Token {token['token']}"}
    for _ in range(5):
        async with connect(server.ws_url, additional_headers=headers) as ws:
            assert (await recv(ws))["data"]["authenticated"] is True
            await ws.send(SUPERSCRIPT_TWO)
            reply = await recv(ws)
            assert reply["type"] == "error" and reply["data"]["code"] == "invalid_field"
            await ws.send('{"type":"ping"}')
            assert (await recv(ws))["type"] == "pong"  # the connection stayed usable
    async with connect(server.ws_url, additional_headers=headers) as ws:
        assert (await recv(ws))["data"]["authenticated"] is True  # not closed with 4002


async def test_a_burst_of_malformed_anonymous_messages_leaves_no_zombie_connections(server):
    async def one():
        async with connect(server.ws_url) as ws:
            await recv(ws)
            await ws.send(SUPERSCRIPT_TWO)
            return (await recv(ws))["data"]["code"]

    for _ in range(4):
        codes = await asyncio.gather(*(one() for _ in range(50)))
        assert set(codes) == {"invalid_field"}
    assert await active_connections(server, 0) == 0
