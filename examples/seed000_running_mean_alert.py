"""Seed 000's "running mean with an alert" script, with the Tickwire client library.

The seed's version keeps every price in a list (memory grows for ever), recomputes the mean
over all of it, stops at the first network error, and alerts on every update while the
mean stays above the line. Here: a rolling window in bounded memory, reconnects that resume
where they left off (and say so when data was lost), and an alert with hysteresis and a
cooldown. Run a server (`make run` or `tickwire serve`), then:

    python examples/seed000_running_mean_alert.py [URL]
"""

import asyncio
import contextlib
import os
import sys
from datetime import datetime

from tickwire.client import AssetUpdate, Client, Gap, RollingWindow, Threshold

URL = (
    sys.argv[1]
    if len(sys.argv) > 1
    else os.environ.get("TICKWIRE_URL", "ws://127.0.0.1:8000/ws/realtime/")
)
SYMBOL, THRESHOLD = "AAPL", float(os.environ.get("THRESHOLD", "150.50"))


async def main() -> None:
    window = RollingWindow(20)  # the mean of the last 20 prices, not of all of them
    alert = Threshold(above=THRESHOLD, hysteresis=0.25, cooldown=60)
    async with Client(URL) as client:
        await client.subscribe(SYMBOL)
        async for event in client:
            now = datetime.now().strftime("%H:%M:%S")
            if isinstance(event, Gap):
                print(f"[{now}] missed updates could not be recovered: {event.reason}")
            elif isinstance(event, AssetUpdate):
                window.add(event.price)
                if alert.check(window.mean):
                    print(
                        f"[{now}] ALERT: mean exceeded threshold ({window.mean:.2f} > {THRESHOLD})"
                    )
                else:
                    print(f"[{now}] price={event.price} mean={window.mean:.4f}", flush=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())  # in Jupyter: `await main()` instead
