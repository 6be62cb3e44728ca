"""Live portfolios against a real server: token and session clients, owner-only access,
a position edit reflected live, logout closing the socket, the connection limit."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest
import websockets
from websockets.asyncio.client import connect

from tests.servers import ROOT, ServerProcess

pytestmark = pytest.mark.e2e

USERS = ("bob", "carol")
PASSWORD = "e2e-Password-123"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(
        tmp_path_factory.mktemp("e2e-portfolios"),
        env={"TICKWIRE_PORTFOLIO_THROTTLE_SECONDS": "0.1", "MAX_CONNECTIONS_PER_USER": "3"},
    ).start()
    script = (
        "from django.contrib.auth import get_user_model\n"
        f"for name in {USERS!r}:\n"
        f"    get_user_model().objects.create_user(name, password={PASSWORD!r})\n"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=srv.env,
        check=True,
        timeout=60,
    )
    yield srv
    srv.stop()


def request(url, method="GET", body=None, token=None, opener=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Token {token}")
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw and "json" in r.headers.get(
                "Content-Type", ""
            ) else raw
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw.startswith(b"{") else raw


def get_token(server, username, password):
    status, body = request(
        server.url + "/api/auth/token/",
        "POST",
        {"username": username, "password": password},
    )
    assert status == 200, body
    return body["token"]


def demo_portfolio_id(server, token):
    status, body = request(server.url + "/api/portfolios/", token=token)
    assert status == 200
    return body["results"][0]["id"]


async def recv(ws, timeout=10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_type(ws, kind, timeout=10):
    async with asyncio.timeout(timeout):
        while True:
            msg = await recv(ws, timeout)
            if msg["type"] == kind:
                return msg


async def subscribe(ws, portfolio_id):
    await ws.send(
        json.dumps({"type": "subscribe_portfolio", "data": {"portfolio_id": portfolio_id}})
    )
    reply = await recv(ws)
    assert reply["type"] == "subscribed", reply
    return reply


async def test_token_client_follows_its_portfolio_live(server):
    token = await asyncio.to_thread(get_token, server, "demo", "demo")
    pid = await asyncio.to_thread(demo_portfolio_id, server, token)
    async with connect(server.ws_url, additional_headers={"Authorization": f"Token {token}"}) as ws:
        hello = await recv(ws)
        assert hello["data"]["authenticated"] is True and isinstance(hello["data"]["user_id"], int)
        await subscribe(ws, pid)
        first = await recv_type(ws, "portfolio_update")
        data = first["data"]
        assert data["portfolio_id"] == pid and data["name"] == "Demo Portfolio"
        assert data["status"] == "ok" and len(data["positions"]) == 5
        assert data["total_value"] == pytest.approx(sum(p["value"] for p in data["positions"]))
        # The simulated feed ticks every 0.05 s: the value keeps moving, seq increasing.
        seqs, values = [first["seq"]], {data["total_value"]}
        while len(values) < 3:
            update = await recv_type(ws, "portfolio_update")
            seqs.append(update["seq"])
            values.add(update["data"]["total_value"])
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        # Status shows this caller's subscriptions (token auth on an HTTP view).
        status, body = await asyncio.to_thread(
            request, server.url + "/realtime/status/", token=token
        )
        assert status == 200
        assert body["user_stats"]["subscriptions"]["portfolios"] == [pid]
        assert body["user_stats"]["connection_count"] >= 1


async def test_authenticate_message_then_subscribe(server):
    token = await asyncio.to_thread(get_token, server, "demo", "demo")
    pid = await asyncio.to_thread(demo_portfolio_id, server, token)
    async with connect(server.ws_url) as ws:
        assert (await recv(ws))["data"]["authenticated"] is False
        await ws.send(json.dumps({"type": "authenticate", "data": {"token": token}}))
        reply = await recv(ws)
        assert reply["type"] == "authenticated" and reply["data"]["authenticated"] is True
        await subscribe(ws, pid)
        assert (await recv_type(ws, "portfolio_update"))["data"]["portfolio_id"] == pid


async def test_second_user_and_anonymous_client_are_refused(server):
    demo_token = await asyncio.to_thread(get_token, server, "demo", "demo")
    pid = await asyncio.to_thread(demo_portfolio_id, server, demo_token)
    bob = await asyncio.to_thread(get_token, server, "bob", PASSWORD)
    async with connect(server.ws_url, additional_headers={"Authorization": f"Token {bob}"}) as ws:
        await recv(ws)
        for portfolio_id in (pid, 10**9):
            await ws.send(
                json.dumps({"type": "subscribe_portfolio", "data": {"portfolio_id": portfolio_id}})
            )
            err = await recv_type(ws, "error")
            assert err["data"]["code"] == "portfolio_not_found"
    status, _ = await asyncio.to_thread(request, f"{server.url}/api/portfolios/{pid}/", token=bob)
    assert status == 404
    async with connect(server.ws_url) as ws:
        await recv(ws)
        await ws.send(json.dumps({"type": "subscribe_portfolio", "data": {"portfolio_id": pid}}))
        err = await recv_type(ws, "error")
        assert err["data"]["code"] == "authentication_required"
    with pytest.raises(websockets.InvalidStatus) as info:
        async with connect(server.ws_url, additional_headers={"Authorization": "Token bad"}):
            pass
    assert info.value.response.status_code == 403


async def test_position_edit_through_the_api_is_reflected_live(server):
    token = await asyncio.to_thread(get_token, server, "demo", "demo")
    pid = await asyncio.to_thread(demo_portfolio_id, server, token)
    url = f"{server.url}/api/portfolios/{pid}/positions/"

    async def next_with(ws, predicate):
        async with asyncio.timeout(10):
            while True:
                msg = await recv_type(ws, "portfolio_update")
                positions = {p["symbol"]: p for p in msg["data"]["positions"]}
                if predicate(positions):
                    return positions

    async with connect(server.ws_url, additional_headers={"Authorization": f"Token {token}"}) as ws:
        await recv(ws)
        await subscribe(ws, pid)
        status, created = await asyncio.to_thread(
            request, url, "POST", {"symbol": "TSLA", "quantity": "2", "average_cost": "300"}, token
        )
        assert status == 201, created
        positions = await next_with(ws, lambda p: "TSLA" in p)
        assert positions["TSLA"]["quantity"] == 2.0
        status, body = await asyncio.to_thread(
            request, url, "POST", {"symbol": "TSLA", "quantity": "-1"}, token
        )
        assert status == 400 and "greater than zero" in body["quantity"][0]
        status, _ = await asyncio.to_thread(
            request, f"{url}{created['id']}/", "PATCH", {"quantity": "5"}, token
        )
        assert status == 200
        positions = await next_with(ws, lambda p: p.get("TSLA", {}).get("quantity") == 5.0)
        status, _ = await asyncio.to_thread(
            request, f"{url}{created['id']}/", "DELETE", None, token
        )
        assert status == 204
        await next_with(ws, lambda p: "TSLA" not in p)


def browser_login(server, username, password):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    status, page = request(server.url + "/accounts/login/", opener=opener)
    assert status == 200
    csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": csrf}
    ).encode()
    req = urllib.request.Request(server.url + "/accounts/login/", data=form, method="POST")
    with opener.open(req, timeout=10) as r:
        assert r.status == 200 and b'class="username"' in r.read()  # redirected home
    return opener, jar


async def test_browser_session_socket_is_closed_on_logout(server):
    opener, jar = await asyncio.to_thread(browser_login, server, "demo", "demo")
    cookies = {c.name: c.value for c in jar}
    cookie = f"sessionid={cookies['sessionid']}"
    with pytest.raises(websockets.InvalidStatus) as info:  # cross-site WebSocket hijacking
        async with connect(
            server.ws_url, origin="https://evil.example", additional_headers={"Cookie": cookie}
        ):
            pass
    assert info.value.response.status_code == 403
    async with connect(
        server.ws_url, origin=server.url, additional_headers={"Cookie": cookie}
    ) as ws:
        hello = await recv(ws)
        assert hello["data"]["authenticated"] is True
        status, body = await asyncio.to_thread(
            request, server.url + "/api/portfolios/", opener=opener
        )
        assert status == 200  # the same session works on the REST API
        await subscribe(ws, body["results"][0]["id"])
        cookies_now = {c.name: c.value for c in jar}
        status, _ = await asyncio.to_thread(
            request,
            server.url + "/accounts/logout/",
            "POST",
            None,
            None,
            opener,
            {"X-CSRFToken": cookies_now["csrftoken"]},
        )
        assert status == 200
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await recv(ws)
        assert closed.value.rcvd.code == 4003


async def test_connection_limit_per_user(server):
    token = await asyncio.to_thread(get_token, server, "carol", PASSWORD)
    headers = {"Authorization": f"Token {token}"}
    sockets = [await connect(server.ws_url, additional_headers=headers) for _ in range(3)]
    try:
        for ws in sockets:
            assert (await recv(ws))["data"]["authenticated"] is True
        async with connect(server.ws_url, additional_headers=headers) as extra:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await recv(extra)
            assert closed.value.rcvd.code == 4002
            assert "MAX_CONNECTIONS_PER_USER=3" in closed.value.rcvd.reason
    finally:
        for ws in sockets:
            await ws.close()


def test_schema_and_docs_are_served(server):
    status, body = request(server.url + "/api/schema/?format=json")
    assert status == 200 and "/api/portfolios/" in body["paths"]
    status, page = request(server.url + "/api/docs/")
    assert status == 200 and b"swagger-ui" in page
    asset = re.search(rb'src="(/static/drf_spectacular_sidecar/[^"]+\.js)"', page).group(1)
    status, _ = request(server.url + asset.decode())
    assert status == 200  # served by the server itself (whitenoise), no CDN
