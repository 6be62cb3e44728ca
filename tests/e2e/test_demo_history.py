"""A fresh embedded start has a real chart: days of simulated 1-minute bars that the live
stream continues without a jump, served at every interval."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.servers import ROOT, ServerProcess
from tickwire.assets.demo import DEMO_ASSETS
from tickwire.stream.feeds.simulator import STEP_VOLATILITY

pytestmark = pytest.mark.e2e

_DUMP = """
import json
from tickwire.assets.models import Asset, PriceBar
out = {}
for asset in Asset.objects.all():
    rows = PriceBar.objects.filter(asset=asset, interval="1m").order_by("start")
    out[asset.symbol] = {
        "kind": asset.kind,
        "price": str(asset.current_price),
        "bars": [[int(r.start.timestamp()), str(r.open), str(r.close)] for r in rows],
    }
print(json.dumps(out))
"""


def get(server: ServerProcess, path: str) -> dict:
    with urllib.request.urlopen(server.url + path, timeout=10) as response:
        return json.loads(response.read())


def test_fresh_home_has_two_days_of_bars_that_the_live_feed_continues(tmp_path) -> None:
    home = tmp_path / "home"
    server = ServerProcess(tmp_path, env={"TICKWIRE_HOME": str(home)}).start()
    try:
        # Served at every interval while the feed runs.
        for interval, at_least in (("1m", 1400), ("5m", 570), ("15m", 190), ("1h", 47)):
            body = get(server, f"/api/assets/AAPL/bars/?interval={interval}")
            assert body["count"] >= at_least, (interval, body["count"])
        time.sleep(1.5)  # live ticks (every 0.05 s) move every price on from the history
    finally:
        server.stop()  # SIGTERM: the open minute and the last prices are written
    proc = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", _DUMP],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    stored = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(stored) == {spec.symbol for spec in DEMO_ASSETS}
    for symbol, data in stored.items():
        bars = data["bars"]
        assert len(bars) >= 2 * 1440 + 1, symbol
        assert bars[-1][0] - bars[0][0] >= 2 * 86400, symbol
        # One walk from the history into the live minutes: every bar opens within one
        # live step of where the one before closed (the history exactly, the first live
        # minute at the first tick after the start).
        step = STEP_VOLATILITY[data["kind"]]
        jumps = []
        for (_, _, close), (_, open_, _) in zip(bars, bars[1:], strict=False):
            c, o = float(close), float(open_)
            if abs(o - c) > c * 6 * step + 0.011:
                jumps.append((c, o))
        assert not jumps, (symbol, jumps[:3])
        assert bars[-1][2] == data["price"], symbol  # the last close is the current price
