"""``tickwire record`` end to end, against a real server process."""

import os
import signal

import pandas as pd
import pytest

from tests.cli.helpers import spawn, tickwire, wait_for
from tickwire.client.frames import read_recording

pytestmark = pytest.mark.e2e


def test_record_csv_survives_an_interrupt(server, tmp_path):
    out = tmp_path / "ticks.csv"
    proc = spawn("record", "AAPL", "MSFT", "--url", server.ws_url, "--out", str(out),
                 "--batch-size", "10", "--heartbeat", "1")  # fmt: skip
    try:
        wait_for(lambda: out.exists() and len(out.read_text().splitlines()) > 30, what="rows")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    frame = read_recording(out)
    assert set(frame["symbol"]) == {"AAPL", "MSFT"}
    assert f"recorded {len(frame)} rows to {out}" in stderr  # the last batch was written
    for _, rows in frame.groupby("symbol"):
        assert rows["seq"].is_monotonic_increasing and rows["seq"].is_unique
    assert not frame["gap_before"].any()


def test_record_csv_crash_loses_at_most_the_last_batch(server, tmp_path):
    out = tmp_path / "ticks.csv"
    proc = spawn("record", "AAPL", "--url", server.ws_url, "--out", str(out),
                 "--batch-size", "7", "--flush-seconds", "3600")  # fmt: skip
    try:
        wait_for(lambda: out.exists() and len(out.read_text().splitlines()) > 21, what="rows")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    frame = read_recording(out)
    assert len(frame) >= 21 and len(frame) % 7 == 0  # whole batches, every row complete
    assert frame["price"].notna().all() and frame["seq"].is_monotonic_increasing


def test_record_parquet_keeps_flushed_batches_after_a_crash(server, tmp_path):
    out = tmp_path / "ticks.parquet"
    parts = tmp_path / "ticks.parquet.parts"
    proc = spawn("record", "AAPL", "--url", server.ws_url, "--out", str(out),
                 "--batch-size", "5", "--heartbeat", "1")  # fmt: skip
    try:
        wait_for(lambda: len(list(parts.glob("part-*.parquet"))) >= 3, what="batches")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # a crash: no chance to finish the file
        proc.communicate(timeout=30)
    assert not out.exists()
    frame = read_recording(parts)
    assert len(frame) >= 15 and len(frame) % 5 == 0  # complete batches only
    assert frame["seq"].is_monotonic_increasing
    again = tickwire("record", "AAPL", "--url", server.ws_url, "--out", str(out))
    assert again.returncode == 1 and "interrupted recording" in again.stderr


def test_record_parquet_for_a_duration(server, tmp_path):
    out = tmp_path / "ticks.parquet"
    done = tickwire("record", "AAPL", "BTC-USD", "--url", server.ws_url, "--out", str(out),
                    "--duration", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    frame = pd.read_parquet(out)
    assert set(frame["symbol"]) == {"AAPL", "BTC-USD"} and len(frame) > 4
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert not (tmp_path / "ticks.parquet.parts").exists()
    refused = tickwire("record", "AAPL", "--url", server.ws_url, "--out", str(out))
    assert refused.returncode == 1 and "exists" in refused.stderr
