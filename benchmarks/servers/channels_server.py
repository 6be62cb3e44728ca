"""Django Channels as a typical app fans out (seed 003's stack as usually built).

An ``AsyncJsonWebsocketConsumer`` joins a group per subscribed symbol; the feed calls
``channel_layer.group_send`` for each update and every consumer's handler re-encodes it
with ``send_json``. In-memory channel layer, uvicorn with default options.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only",
    ALLOWED_HOSTS=["*"],
    INSTALLED_APPS=["channels"],
    CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
    DATABASES={},
    USE_TZ=True,
)
django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402
from django.utils import timezone  # noqa: E402

from benchmarks.common import SYMBOL, padding_for, raise_nofile, update_data  # noqa: E402
from benchmarks.control import serve_control  # noqa: E402


class PriceConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()

    async def receive_json(self, content: dict, **kwargs: object) -> None:
        if content.get("type") == "subscribe_asset":
            symbol = content["data"]["symbol"]
            await self.channel_layer.group_add(f"asset_{symbol}", self.channel_name)
            await self.send_json({"type": "subscribed", "data": {"symbol": symbol}})
        elif content.get("type") == "ping":
            await self.send_json({"type": "pong", "data": {}})

    async def asset_update(self, event: dict) -> None:
        await self.send_json(
            {
                "type": "asset_update",
                "data": event["data"],
                "timestamp": event["timestamp"],
                "seq": event["seq"],
            }
        )


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("ws/realtime/", PriceConsumer.as_asgi())])}
)


def main() -> None:
    import json

    import uvicorn
    import uvloop

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_nofile()
    pad = padding_for(json.dumps, timestamp=timezone.now().isoformat())

    async def run() -> None:
        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            lifespan="off",
            backlog=4096,
        )
        server = uvicorn.Server(config)
        serving = asyncio.ensure_future(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
                sys.exit("server exited")
            await asyncio.sleep(0.05)
        layer = get_channel_layer()
        group = f"asset_{SYMBOL}"

        async def publish(seq: int) -> None:
            data = update_data(seq)
            data["pad"] = pad
            await layer.group_send(
                group,
                {
                    "type": "asset.update",
                    "data": data,
                    "timestamp": timezone.now().isoformat(),
                    "seq": seq,
                },
            )

        def stop() -> None:
            server.should_exit = True

        await serve_control(publish, stop)
        await serving

    uvloop.run(run())


if __name__ == "__main__":
    main()
