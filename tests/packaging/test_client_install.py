"""``pip install tickwire`` alone, into a fresh virtualenv outside the checkout: the client
library and the client commands, without Django, uvicorn, redis-py or psycopg, streaming
from a real server (started from the development environment on a loopback port); the
server's commands say in one line which extra to install."""

from __future__ import annotations

import json

import pytest

from tests.packaging.venvs import environ, importable, installed, make_venv, run
from tests.servers import ServerProcess
from tickwire import __version__

pytestmark = pytest.mark.e2e

#: What a client install must not bring: the server, its database drivers, its broker.
SERVER_SIDE = ("django", "channels", "djangorestframework", "uvicorn", "psycopg", "redis")

FOLLOW = """
import asyncio, sys
from tickwire.client import AssetUpdate, Client

async def main(url):
    async with Client(url) as client:
        await client.subscribe("AAPL", "MSFT")
        seen = {}
        async for event in client:
            if isinstance(event, AssetUpdate):
                seen.setdefault(event.symbol, event.price)
                if len(seen) == 2:
                    break
    for symbol, price in sorted(seen.items()):
        print(symbol, price)

asyncio.run(asyncio.wait_for(main(sys.argv[1]), 60))
"""


@pytest.fixture(scope="module")
def client_venv(wheel, tmp_path_factory):
    return make_venv(tmp_path_factory.mktemp("client") / "venv", wheel)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("client-install-server")).start()
    yield srv
    srv.stop()


def test_the_client_install_has_no_server_parts(client_venv, tmp_path):
    names = installed(client_venv, tmp_path)
    assert "tickwire" in names
    for name in SERVER_SIDE:
        assert name not in names, f"{name} came with the client install: {sorted(names)}"
    assert not importable(client_venv, "django", tmp_path)
    assert importable(client_venv, "tickwire.client", tmp_path)
    assert importable(client_venv, "tickwire.cli", tmp_path)


def test_version(client_venv, tmp_path):
    done = run(client_venv / "bin" / "tickwire", "--version", cwd=tmp_path, env=environ(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"tickwire {__version__} (protocol 1)"


def test_tickwire_stream_from_a_running_server(client_venv, server, tmp_path):
    done = run(client_venv / "bin" / "tickwire", "stream", "AAPL", "--count", "2",
               "--url", server.ws_url, cwd=tmp_path, env=environ(tmp_path),
               timeout=90)  # fmt: skip
    assert done.returncode == 0, done.stderr
    updates = [json.loads(line) for line in done.stdout.splitlines()]
    assert [u["data"]["symbol"] for u in updates] == ["AAPL", "AAPL"]
    assert all(u["data"]["price"] > 0 for u in updates)
    assert updates[0]["seq"] < updates[1]["seq"]


def test_a_script_with_tickwire_client_follows_two_symbols(client_venv, server, tmp_path):
    script = tmp_path / "follow.py"
    script.write_text(FOLLOW)
    done = run(client_venv / "bin" / "python", script, server.ws_url, cwd=tmp_path,
               env=environ(tmp_path), timeout=90)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    assert [symbol for symbol, _ in lines] == ["AAPL", "MSFT"]
    assert all(float(price) > 0 for _, price in lines)


@pytest.mark.parametrize(
    "argv",
    [["tickwire", "serve"], ["tickwire", "feed"], ["tickwire", "manage", "migrate"],
     ["python", "-m", "tickwire.serve"]],
)  # fmt: skip
def test_server_commands_name_the_extra_to_install(client_venv, tmp_path, argv):
    done = run(client_venv / "bin" / argv[0], *argv[1:], cwd=tmp_path, env=environ(tmp_path))
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "needs the server extra" in line
    assert line.endswith("pip install 'tickwire[server]'")
