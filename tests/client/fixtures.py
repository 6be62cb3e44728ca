"""One real server shared by the client and CLI tests, and a TCP proxy that can cut links."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from tests.servers import ServerProcess

#: Short enough that a test sees an idle connection closed; the clients under test ping.
IDLE_TIMEOUT = 3

_server: ServerProcess | None = None
_users = 0


@contextlib.contextmanager
def shared_server(tmp_path_factory) -> Iterator[ServerProcess]:
    """The session's server: started by its first user, stopped after its last."""
    global _server, _users
    if _server is None:
        _server = ServerProcess(
            tmp_path_factory.mktemp("client-e2e"),
            env={"WEBSOCKET_TIMEOUT": str(IDLE_TIMEOUT)},
        ).start()
    _users += 1
    try:
        yield _server
    finally:
        _users -= 1
        if _users == 0:
            _server.stop()
            _server = None


class Proxy:
    """A loopback TCP proxy in front of a server: :meth:`cut` drops every link at once, as
    a network failure would, and refuses new ones until :meth:`restore`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.accepted = 0

    async def start(self, port: int = 0) -> Proxy:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", port or self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._links.update((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._links):
            w.transport.abort()
        self._links.clear()
        await self._server.wait_closed()

    async def restore(self) -> None:
        await self.start(self.port)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.cut()
