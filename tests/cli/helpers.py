"""Running the ``tickwire`` console script as a user would: a subprocess of the installed
script, whose output and exit status the tests read."""

import contextlib
import itertools
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.server import serve

from tests.servers import ROOT
from tickwire.stream import protocol as p

#: The installed console script; it imports the ``tickwire`` package on PYTHONPATH first.
SCRIPT = Path(sys.executable).with_name("tickwire")


def tickwire(*args, **kw):
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, **kw)  # fmt: skip


def spawn(*args, **kw):
    return subprocess.Popen([str(SCRIPT), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True, **kw)  # fmt: skip


def wait_for(check, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def hello() -> str:
    return p.encode("connection", {"status": "connected", "connection_id": "c1",
                                   "authenticated": True, "user_id": 1}).decode()  # fmt: skip


def update(symbol: str, price: float, seq: int) -> str:
    return p.seal(p.encode_body("asset_update", {"symbol": symbol, "price": price}), seq).decode()


@dataclass
class Session:
    """What a scripted server does on one connection: answers the subscription with
    ``streams`` ({symbol: {seq, epoch, recovered}}), sends ``updates`` (symbol, price, seq),
    then closes with ``close`` (code, reason) or, when None, waits for the client to go."""

    streams: dict[str, dict[str, Any]]
    updates: list[tuple[str, float, int]] = field(default_factory=list)
    close: tuple[int, str] | None = None


@contextlib.contextmanager
def scripted_server(*sessions: Session) -> Iterator[str]:
    """A loopback WebSocket server following the documented message shapes, playing one
    session per connection (the last one again for later connections); yields its URL."""
    connections = itertools.count()

    def handler(ws: Any) -> None:
        session = sessions[min(next(connections), len(sessions) - 1)]
        ws.send(hello())
        for raw in ws:
            request = p.parse_request(raw)
            if not isinstance(request, p.SubscribeAssets):
                continue
            data = {"symbols": list(session.streams), "streams": session.streams}
            ws.send(p.encode("subscribed", data, id=request.id).decode())
            for symbol, price, seq in session.updates:
                ws.send(update(symbol, price, seq))
            if session.close is not None:
                ws.close(*session.close)
                return

    with serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/ws/realtime/"
        finally:
            server.shutdown()
            thread.join(10)
