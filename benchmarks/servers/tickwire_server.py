"""Tickwire as ``make run`` serves it (uvicorn, the same options), plus the bench publisher.

The publisher stands in for the feed: it publishes through the runtime's broker (the
embedded memory broker, or ``--broker redis://...`` once a Redis broker exists), so every
update takes the product's path: broker, node, hub, outboxes, front end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--broker", default="memory://")
    parser.add_argument(
        "--asgi", action="store_true", help="stock uvicorn protocol, no direct write"
    )
    args = parser.parse_args()
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "tickwire.settings.local",
            "DATABASE_URL": f"sqlite:///{args.workdir / 'bench.sqlite3'}",
            "TICKWIRE_BROKER_URL": args.broker,
            "TICKWIRE_FEED_IN_PROCESS": "0",
            "TICKWIRE_DIRECT_WRITE": "0" if args.asgi else "1",
            "WEBSOCKET_TIMEOUT": "3600",
            # As deployed: DEBUG off (DEBUG keeps a log of every SQL query, per connection).
            "DEBUG": "0",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("load_demo_data", verbosity=0)

    import uvicorn
    import uvloop

    from benchmarks.common import SYMBOL, pad_to_size, raise_nofile, update_data
    from benchmarks.control import serve_control
    from tickwire.realtime.runtime import get_runtime
    from tickwire.serve import uvicorn_options
    from tickwire.stream.channels import asset_channel
    from tickwire.stream.protocol import ServerType, encode_body, seal

    raise_nofile()
    if os.environ.get("TW_TRACEMALLOC"):
        import tracemalloc

        tracemalloc.start(8)
    channel = asset_channel(SYMBOL)
    sample = seal(encode_body(ServerType.ASSET_UPDATE, update_data(1)), 1)
    pad = pad_to_size(len(sample) + 4)

    async def run() -> None:
        config = uvicorn.Config(
            "tickwire.asgi:application",
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            **uvicorn_options(),
        )
        server = uvicorn.Server(config)
        serving = asyncio.ensure_future(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
                sys.exit("server exited")
            await asyncio.sleep(0.05)
        broker = (await get_runtime()).broker

        def publish(seq: int) -> object:
            data = update_data(seq)
            data["pad"] = pad
            return broker.publish(channel, encode_body(ServerType.ASSET_UPDATE, data))

        def stop() -> None:
            server.should_exit = True

        await serve_control(publish, stop)
        await serving

    uvloop.run(run())


if __name__ == "__main__":
    main()
