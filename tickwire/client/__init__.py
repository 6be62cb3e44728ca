"""Tickwire's Python client: live streams, rolling statistics and alerts, for scripts and
notebooks.

```python
async with Client("ws://127.0.0.1:8000/ws/realtime/") as client:
    await client.subscribe("AAPL", "MSFT")
    async for event in client:
        if isinstance(event, AssetUpdate):
            print(event.symbol, event.price)
```

:class:`Client` reconnects with backoff, resubscribes and resumes from the last ``seq``;
a :class:`Gap` event says when missed updates could not be recovered. :class:`BlockingClient`
is the same for plain scripts and Jupyter. :class:`RollingStats` keeps rolling windows per
symbol in bounded memory; :class:`Threshold` and :class:`Crossing` raise alerts with
hysteresis and a cooldown; :func:`open_recorder` writes CSV or Parquet in batches;
:mod:`tickwire.client.history` reads a symbol's bars as a pandas DataFrame.
Server-side alert rules: :class:`AlertsAPI` manages them over REST, and the client yields
an :class:`AlertFired` event whenever one of them fires.
"""

from tickwire.stream.messages import (
    AssetUpdate,
    PortfolioUpdate,
    Resync,
    ServerError,
    ServerMessage,
    StreamPosition,
)

from .alerts import AlertEvent, Crossing, Threshold
from .backoff import Backoff
from .blocking import BlockingClient
from .connection import Client
from .events import (
    AlertFired,
    AuthenticationError,
    ConnectionFailed,
    ConnectionStatus,
    Event,
    Gap,
    RequestError,
    ServerClosed,
    TickwireError,
)
from .raw import RawFeed
from .record import CsvRecorder, ParquetRecorder, Recorder, open_recorder
from .rest import AlertsAPI, APIError
from .stats import RollingStats, RollingWindow, WindowStats

__all__ = [
    "APIError",
    "AlertEvent",
    "AlertFired",
    "AlertsAPI",
    "AssetUpdate",
    "AuthenticationError",
    "Backoff",
    "BlockingClient",
    "Client",
    "ConnectionFailed",
    "ConnectionStatus",
    "Crossing",
    "CsvRecorder",
    "Event",
    "Gap",
    "ParquetRecorder",
    "PortfolioUpdate",
    "RawFeed",
    "Recorder",
    "RequestError",
    "Resync",
    "RollingStats",
    "RollingWindow",
    "ServerClosed",
    "ServerError",
    "ServerMessage",
    "StreamPosition",
    "Threshold",
    "TickwireError",
    "WindowStats",
    "open_recorder",
]
