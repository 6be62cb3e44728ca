"""Tutorial style (seed 001): ``websockets``, ``json.dumps`` and ``await send`` per client."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import uvloop
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from benchmarks.common import padding_for, raise_nofile, update_data
from benchmarks.control import serve_control

clients: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    try:
        async for message in ws:
            request = json.loads(message)
            if request.get("type") in ("subscribe_asset", "subscribe"):
                clients.add(ws)
                await ws.send(json.dumps({"type": "subscribed", "data": request.get("data")}))
            elif request.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong", "data": {}}))
    finally:
        clients.discard(ws)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_nofile()
    pad = padding_for(json.dumps)

    async def run() -> None:
        async with serve(handler, "127.0.0.1", args.port, backlog=4096, max_queue=None) as server:

            async def publish(seq: int) -> None:
                data = update_data(seq)
                data["pad"] = pad
                message = {
                    "type": "asset_update",
                    "data": data,
                    "timestamp": datetime.now(UTC).isoformat(),
                    "seq": seq,
                }
                for ws in list(clients):
                    try:
                        await ws.send(json.dumps(message))
                    except ConnectionClosed:
                        clients.discard(ws)

            await serve_control(publish, server.close)

    uvloop.run(run())


if __name__ == "__main__":
    main()
