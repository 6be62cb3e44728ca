"""The embedded server's local control endpoint: a Unix socket under ``TICKWIRE_HOME/run/``.

With the memory broker (the embedded default) the price feed runs inside the server
process and no other process can reach its broker. A management command that must go
through the running feed (``update_asset_prices``) connects to this socket instead.

* Where: ``TICKWIRE_HOME/run/control.sock`` (the directory 0700, the socket 0600), so only
  the user who runs the server can send to it — the same user who can write its database.
* Lifetime: opened when the server's in-process feed starts (``tickwire serve`` enables it;
  :func:`enable`), removed when it stops. A socket file left by a killed server is stale:
  connecting is refused. The server replaces a stale one at start; the client reports it
  as "no server" at once instead of waiting.
* Exchange: one control frame per connection, a line of JSON (the same frames as on the
  broker's control channel); the server answers one line — the feed's acknowledgement, or
  ``{"type":"control_error","data":{"error":...}}`` — and closes. A frame over
  :data:`MAX_FRAME` bytes, or one not sent within :data:`READ_TIMEOUT` seconds, is dropped.

It does not authenticate beyond the file mode, and it carries nothing but control frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson

__all__ = [
    "MAX_FRAME",
    "ControlEndpoint",
    "EndpointStale",
    "NoEndpoint",
    "enable",
    "enabled",
    "send_frame",
    "socket_path",
]

log = logging.getLogger("tickwire.realtime.control")

#: Longest control frame accepted (10,000 quotes fit comfortably).
MAX_FRAME = 8 * 1024 * 1024
#: Seconds a client has to send its frame.
READ_TIMEOUT = 10.0
#: Unix socket paths longer than this cannot be bound (sun_path is 108 bytes on Linux).
_MAX_PATH = 107

Handler = Callable[[bytes], Awaitable[bytes | None]]

_enabled = False


def enable(on: bool = True) -> None:
    """Let this process's runtime open the endpoint when its feed starts in process.

    ``tickwire serve`` enables it; test runtimes and other embeddings of the runtime do
    not, so they never create files in TICKWIRE_HOME.
    """
    global _enabled
    _enabled = on


def enabled() -> bool:
    return _enabled


def socket_path(home: Path) -> Path:
    return home / "run" / "control.sock"


class NoEndpoint(ConnectionError):
    """No server listens on the control socket (there is no socket file)."""


class EndpointStale(NoEndpoint):
    """A socket file exists but nothing listens on it: a server that was killed."""


def _connect_error(path: Path, exc: OSError) -> NoEndpoint:
    if isinstance(exc, FileNotFoundError):
        return NoEndpoint(f"no control socket at {path}")
    if isinstance(exc, ConnectionRefusedError) or exc.errno in (errno.ECONNREFUSED,):
        return EndpointStale(f"stale control socket {path}: no server listens on it")
    return NoEndpoint(f"control socket {path} cannot be used: {exc}")


def _listening(path: Path) -> bool:
    """Whether a server accepts connections on ``path`` now (a quick, blocking check)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


class ControlEndpoint:
    """Serves control frames on the socket at ``path`` to ``handler`` (the feed's
    :meth:`~tickwire.stream.feeds.FeedService.execute_control`)."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self.served = 0
        self._server: asyncio.AbstractServer | None = None
        self._inode: int | None = None

    async def start(self) -> bool:
        """Listen; False (logged, not fatal) if the path is too long or another live server
        owns it. A stale socket file is replaced."""
        path = self.path
        if len(str(path).encode()) > _MAX_PATH:
            log.warning(
                "control socket path %s is longer than %d bytes; one-off price updates "
                "cannot reach this server's feed (choose a shorter TICKWIRE_HOME)",
                path,
                _MAX_PATH,
            )
            return False
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            if _listening(path):
                log.warning(
                    "another server already listens on %s; this one opens no control socket",
                    path,
                )
                return False
            log.info("removing stale control socket %s", path)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        old = os.umask(0o177)  # the socket is created 0600, never briefly wider
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(path), limit=MAX_FRAME
            )
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self._inode = path.stat().st_ino
        log.info("control socket listening on %s", path)
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                frame = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
            except (TimeoutError, ValueError, asyncio.LimitOverrunError) as exc:
                log.warning("control socket: frame dropped (%s)", exc or type(exc).__name__)
                return
            if not frame.strip():
                return
            self.served += 1
            try:
                reply = await self.handler(frame.strip())
            except Exception as exc:
                log.exception("control socket: handling a frame failed")
                reply = _error(f"the feed failed: {exc}")
            writer.write((reply + b"}" if reply is not None else _error(None)) + b"\n")
            await writer.drain()
        except (ConnectionError, OSError):
            pass  # the client went away; nothing to tell it
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def stop(self) -> None:
        """Stop listening and remove the socket file (if it is still ours)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2.0)
        with contextlib.suppress(FileNotFoundError):
            if self.path.stat().st_ino == self._inode:
                self.path.unlink()


def _error(message: str | None) -> bytes:
    """A reply body (unclosed, like the feed's) for a frame with no acknowledgement."""
    text = message or "accepted; this message has no acknowledgement"
    kind = "control_error" if message else "control_accepted"
    return orjson.dumps({"type": kind, "data": {"error": message, "detail": text}})[:-1]


def send_frame(path: Path, frame: bytes, timeout: float) -> bytes:
    """Send one control frame to the server at ``path``; its one-line reply.

    Raises NoEndpoint when there is no socket file, EndpointStale when nothing listens on
    it (at once, never waiting), TimeoutError when the server does not answer in
    ``timeout`` seconds, ConnectionError when it closes without answering.
    """
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except TimeoutError:
            raise TimeoutError(f"the server on {path} did not accept in {timeout:g}s") from None
        except OSError as exc:
            raise _connect_error(path, exc) from None
        try:
            sock.sendall(frame.rstrip(b"\n") + b"\n")
            chunks: list[bytes] = []
            while True:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if chunk.endswith(b"\n"):
                    break
        except TimeoutError:
            raise TimeoutError(f"the server on {path} did not answer in {timeout:g}s") from None
    reply = b"".join(chunks).strip()
    if not reply:
        raise ConnectionError(f"the server on {path} closed the connection without answering")
    return reply
