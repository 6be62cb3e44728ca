"""The embedded server's control socket: one frame in, one answer out; stale files."""

from __future__ import annotations

import asyncio
import shutil
import socket
import stat
import tempfile
from pathlib import Path

import orjson
import pytest

from tickwire.realtime.control_socket import (
    ControlEndpoint,
    EndpointStale,
    NoEndpoint,
    send_frame,
    socket_path,
)


@pytest.fixture
def home():
    # Short: a Unix socket path has at most 107 bytes.
    path = Path(tempfile.mkdtemp(prefix="tw-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def echo(frame: bytes) -> bytes:
    body = orjson.dumps({"type": "echo", "data": orjson.loads(frame)})
    return body[:-1]  # unclosed, as the feed's bodies are


async def test_a_frame_gets_its_answer_and_the_socket_is_private(home):
    endpoint = ControlEndpoint(socket_path(home), echo)
    assert await endpoint.start()
    try:
        path = socket_path(home)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        reply = await asyncio.to_thread(send_frame, path, b'{"n": 1}', 5.0)
        assert orjson.loads(reply) == {"type": "echo", "data": {"n": 1}}
        assert endpoint.served == 1
    finally:
        await endpoint.stop()
    assert not socket_path(home).exists()


async def test_no_socket_and_a_stale_socket_are_told_apart_at_once(home):
    path = socket_path(home)
    with pytest.raises(NoEndpoint, match="no control socket") as info:
        send_frame(path, b"{}", 5.0)
    assert not isinstance(info.value, EndpointStale)
    # What a server killed with SIGKILL leaves: a socket file nothing listens on.
    path.parent.mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    with pytest.raises(EndpointStale, match="stale control socket"):
        send_frame(path, b"{}", 5.0)
    # The next server replaces it.
    endpoint = ControlEndpoint(path, echo)
    assert await endpoint.start()
    try:
        assert await asyncio.to_thread(send_frame, path, b"{}", 5.0)
    finally:
        await endpoint.stop()


async def test_a_second_server_leaves_a_live_socket_alone(home):
    first = ControlEndpoint(socket_path(home), echo)
    second = ControlEndpoint(socket_path(home), echo)
    assert await first.start()
    try:
        assert not await second.start()
        await second.stop()
        assert await asyncio.to_thread(send_frame, socket_path(home), b"{}", 5.0)
    finally:
        await first.stop()


async def test_a_server_that_does_not_answer_is_a_timeout(home):
    release = asyncio.Event()

    async def stuck(frame: bytes) -> bytes:
        await release.wait()
        return b'{"type":"late"'

    endpoint = ControlEndpoint(socket_path(home), stuck)
    assert await endpoint.start()
    try:
        with pytest.raises(TimeoutError, match=r"did not answer in 0\.3s"):
            await asyncio.to_thread(send_frame, socket_path(home), b"{}", 0.3)
    finally:
        release.set()
        await endpoint.stop()


async def test_a_failing_handler_is_answered_with_the_error(home):
    async def broken(frame: bytes) -> bytes:
        raise RuntimeError("boom")

    endpoint = ControlEndpoint(socket_path(home), broken)
    assert await endpoint.start()
    try:
        reply = await asyncio.to_thread(send_frame, socket_path(home), b"{}", 5.0)
        assert orjson.loads(reply)["data"]["error"] == "the feed failed: boom"
    finally:
        await endpoint.stop()


async def test_a_home_too_long_for_a_socket_opens_none(tmp_path):
    deep = tmp_path / ("x" * 120)
    endpoint = ControlEndpoint(socket_path(deep), echo)
    assert not await endpoint.start()
    assert not socket_path(deep).exists()
