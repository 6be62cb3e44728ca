"""A fake provider that can go away and come back, for failover tests."""

from __future__ import annotations

from websockets.asyncio.server import serve

from .fakes import FakeConn, FakeWsServer


class Provider(FakeWsServer):
    """A generic WebSocket provider (``{"symbol", "price", "timestamp"}`` messages) whose
    port can close — connections refused, as when a provider is down — and open again."""

    async def __aenter__(self) -> Provider:
        self._server = await serve(self._handler, "127.0.0.1", self.port, compression=None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def go_down(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def come_back(self) -> FakeConn:
        await self.__aenter__()
        return await self.next_connection()

    async def trade(self, conn: FakeConn, symbol: str, price: float, ts: float) -> None:
        await conn.send({"symbol": symbol, "price": price, "timestamp": ts})
