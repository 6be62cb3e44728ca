# %% [markdown]
# # Tickwire in a notebook
#
# Cells in the `# %%` format (VS Code, PyCharm, Jupytext open this file as a notebook).
# In Jupyter an event loop is already running, so seed 000's `asyncio.run(...)` fails;
# `BlockingClient` runs the client on its own thread and works anywhere. (You can also
# `await` the asyncio `Client` directly in a notebook cell.)
#
# Needs a server (`tickwire serve`) and the pandas extra: `pip install 'tickwire[pandas]'`.

# %%
import os
import time

from tickwire.client import AssetUpdate, BlockingClient, Crossing, Gap, RollingStats
from tickwire.client.dataframes import stats_frame, updates_frame, window_frame

URL = os.environ.get("TICKWIRE_URL", "ws://127.0.0.1:8000/ws/realtime/")
SECONDS = float(os.environ.get("SECONDS", "10"))

# %% Connect and keep rolling statistics per symbol in the background
client = BlockingClient(URL)
stats = RollingStats(50, span=10)  # windows of the last 50 updates; EWMA with span 10
recent: list[AssetUpdate] = []
alerts: dict[str, Crossing] = {}  # per symbol: 0.1 % away from where we started


def alert_for(update: AssetUpdate) -> Crossing:
    if update.symbol not in alerts:
        level, band = update.price * 1.001, update.price * 0.0005
        alerts[update.symbol] = Crossing(level, hysteresis=band, cooldown=30, symbol=update.symbol)
    return alerts[update.symbol]


def on_update(update: AssetUpdate) -> None:
    window = stats.update(update)
    recent.append(update)
    del recent[:-1000]  # keep the last 1000 for the DataFrame below: bounded memory
    fired = alert_for(update).check(window.mean or update.price)
    if fired:
        print(f"alert: {update.symbol} rolling mean {fired.describe()}")


client.on(AssetUpdate, on_update)
client.on(Gap, lambda gap: print(f"data lost for {gap.symbol}: {gap.reason}"))
client.subscribe("AAPL", "MSFT")
client.start()  # callbacks run on the client's thread; this cell returns at once

# %% A few seconds later: statistics as a DataFrame
time.sleep(SECONDS)
print(stats_frame(stats)[["count", "last", "mean", "std", "min", "max", "vwap", "ewma"]])

# %% The raw updates and one window, ready for plotting
print(updates_frame(recent).tail())
print(window_frame(stats["AAPL"]).describe())

# %% Done
client.close()
