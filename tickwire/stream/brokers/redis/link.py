"""One raw Redis pub/sub connection: asyncio streams and the hiredis parser."""

from __future__ import annotations

import asyncio
from typing import Any

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError

__all__ = ["PubSubLink"]


class PubSubLink:
    """One raw pub/sub connection (asyncio streams + the hiredis parser).

    Kept apart from redis-py's connection objects so that reconnecting, cancelling and
    detecting a dead link are entirely ours: ``send`` never waits, ``read`` returns the
    replies that arrived, and a closed link raises ConnectionError.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = hiredis.Reader()

    @classmethod
    async def open(cls, url: str, timeout: float) -> PubSubLink:
        opts = parse_url(url)
        if "path" in opts:
            coro = asyncio.open_unix_connection(opts["path"])
        else:
            ssl = url.startswith("rediss:") or None
            coro = asyncio.open_connection(
                opts.get("host", "localhost"), opts.get("port", 6379), ssl=ssl
            )
        reader, writer = await asyncio.wait_for(coro, timeout)
        link = cls(reader, writer)
        if opts.get("password"):
            auth = [opts["username"]] if opts.get("username") else []
            link.send("AUTH", *auth, opts["password"])
            reply = await asyncio.wait_for(link.read(), timeout)
            if reply and isinstance(reply[0], hiredis.ReplyError):
                link.close()
                raise RedisConnectionError(f"Redis refused AUTH: {reply[0]}")
        return link

    def send(self, *args: str | bytes) -> None:
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg.encode() if isinstance(arg, str) else arg
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self._writer.write(b"".join(parts))

    async def read(self) -> list[Any]:
        data = await self._reader.read(65536)
        if not data:
            raise RedisConnectionError("Redis closed the pub/sub connection")
        self._parser.feed(data)
        out = []
        while (reply := self._parser.gets()) is not False:
            out.append(reply)
        return out

    def close(self) -> None:
        self._writer.close()
