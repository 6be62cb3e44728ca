"""``tickwire watch`` end to end, against a real server process."""

import os

import pytest

from tests.cli.helpers import tickwire

pytestmark = pytest.mark.e2e


def test_watch_shows_a_table_with_rolling_mean_and_change(server):
    done = tickwire("watch", "AAPL", "BTC-USD", "--url", server.ws_url, "--duration", "2",
                    "--window", "5", env={**os.environ, "COLUMNS": "120"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Mean(5)" in out and "Window Δ" in out and "Chg %" in out
    rows = [line for line in out.splitlines() if "AAPL" in line or "BTC-USD" in line]
    assert len(rows) >= 2
    cells = [c.strip() for c in rows[-1].split("│") if c.strip()]
    assert float(cells[1].replace(",", "")) > 0  # a price
    assert float(cells[4].replace(",", "")) > 0  # its rolling mean
