"""The practical limit: picows writing one pre-built frame per client per update.

No protocol beyond what the load generator needs (a ``subscribed`` reply), no outboxes,
no slow-client policy: one ``send()`` per client per update, encoded once.
"""

from __future__ import annotations

import argparse

import orjson
import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

from benchmarks.common import padding_for, raise_nofile, update_data
from benchmarks.control import serve_control

subscribers: dict[WSTransport, None] = {}


class Listener(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            if b"subscribe" in frame.get_payload_as_bytes():
                subscribers[transport] = None
                transport.send(WSMsgType.TEXT, b'{"type":"subscribed","data":{}}')
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        subscribers.pop(transport, None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_nofile()
    pad = padding_for(orjson.dumps)

    async def run() -> None:
        server = await ws_create_server(
            lambda _req: Listener(), "127.0.0.1", args.port, backlog=4096
        )

        def publish(seq: int) -> None:
            data = update_data(seq)
            data["pad"] = pad
            frame = orjson.dumps(
                {
                    "type": "asset_update",
                    "data": data,
                    "timestamp": "2024-01-15T10:30:00.000Z",
                    "seq": seq,
                }
            )
            for transport in subscribers:
                transport.send(WSMsgType.TEXT, frame)

        await serve_control(publish, server.close)

    uvloop.run(run())


if __name__ == "__main__":
    main()
