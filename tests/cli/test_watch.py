"""``tickwire watch`` end to end against a real server process, and its table rendered."""

import io
import os

import pytest
from rich.console import Console

from tests.cli.helpers import tickwire
from tickwire.cli.watch import SPARK_BLOCKS, Board, sparkline
from tickwire.client import AssetUpdate

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


def test_the_trend_column_draws_the_rolling_window_in_sparkline_blocks(server):
    done = tickwire("watch", "BTC-USD", "--url", server.ws_url, "--duration", "3",
                    "--window", "12", "--spark-width", "6",
                    env={**os.environ, "COLUMNS": "160"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Trend" in done.stdout
    row = [line for line in done.stdout.splitlines() if "BTC-USD" in line][-1]
    cells = [c.strip() for c in row.split("│") if c.strip()]
    updates = int(cells[8])
    assert updates >= 2
    # One block per price in the window, up to --spark-width of them.
    assert len(cells[7]) == min(updates, 12, 6)
    assert set(cells[7]) <= set(SPARK_BLOCKS)


# -- the table, rendered -------------------------------------------------------------------


def rendered(board, colour=False):
    console = Console(record=True, width=200, file=io.StringIO(), force_terminal=colour,
                      color_system="standard" if colour else None)  # fmt: skip
    console.print(board.table())
    return console.export_text(styles=colour)


def row_cells(text, symbol):
    line = next(line for line in text.splitlines() if f" {symbol} " in line)
    return [c.strip() for c in line.split("│")[1:-1]]


def feed(board, symbol, prices):
    for i, price in enumerate(prices):
        board.apply(update(symbol, price, i + 1))


def update(symbol, price, seq):
    return AssetUpdate("asset_update", {}, f"2026-03-02T10:00:{seq:02d}Z", None, seq,
                       symbol=symbol, price=price, change=None, change_percent=None,
                       volume=None, high=None, low=None, previous_close=None,
                       currency=None)  # fmt: skip


def test_sparkline_scales_the_window_from_its_lowest_to_its_highest_price():
    board = Board(["AAPL", "MSFT", "EUR-USD"], window=8, url="ws://x/ws/realtime/")
    feed(board, "AAPL", [100, 101, 102, 103, 104, 105, 106, 107])
    feed(board, "MSFT", [10, 30, 20, 30, 10])
    feed(board, "EUR-USD", [1.1, 1.1, 1.1])
    text = rendered(board)
    assert "Trend" in text
    header = [c.strip() for c in text.splitlines()[2].split("┃")[1:-1]]
    assert header[7] == "Trend" and header[4] == "Mean(8)"
    assert row_cells(text, "AAPL")[7] == "▁▂▃▄▅▆▇█"
    assert row_cells(text, "MSFT")[7] == "▁█▅█▁"
    assert row_cells(text, "EUR-USD")[7] == "▄▄▄"  # flat: drawn at mid height
    assert row_cells(text, "AAPL")[4] == "103.50"  # the mean beside it is the same window's


def test_sparkline_shows_only_the_rolling_window_and_at_most_its_width():
    board = Board(["AAPL"], window=4, url="ws://x/ws/realtime/", spark_width=3)
    feed(board, "AAPL", [500, 1, 2, 3, 4, 5])  # 500 has left the window
    assert row_cells(rendered(board), "AAPL")[7] == "▁▅█"
    assert sparkline([], 5) == "" and sparkline([1.0, 2.0], 0) == ""


def test_sparkline_is_green_when_the_window_rose_and_red_when_it_fell():
    board = Board(["UP", "DOWN"], window=5, url="ws://x/ws/realtime/")
    feed(board, "UP", [1, 2, 3])
    feed(board, "DOWN", [3, 2, 1])
    text = rendered(board, colour=True)
    assert "\x1b[32m▁▅█" in text and "\x1b[31m█▅▁" in text


def test_spark_width_must_be_positive():
    done = tickwire("watch", "AAPL", "--spark-width", "0")
    assert done.returncode == 2 and "--spark-width" in done.stderr
