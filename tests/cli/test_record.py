"""``tickwire record`` end to end, against a real server process."""

import os
import signal

import pandas as pd
import pytest

from tests.cli.helpers import Session, scripted_server, spawn, tickwire, wait_for
from tests.servers import free_port
from tickwire.client.dataframes import read_recording

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


#: A server that restarts after one update and comes back with a new stream: a gap.
RESTARTED = (
    Session({"AAPL": {"seq": 1, "epoch": "e1"}}, [("AAPL", 150.0, 1)], close=(1012, "")),
    Session({"AAPL": {"seq": 1, "epoch": "e2", "recovered": False}},
            [("AAPL", 151.0, 1), ("AAPL", 152.0, 2)]),
)  # fmt: skip


def test_record_reports_a_gap_once_and_marks_it(tmp_path):
    out = tmp_path / "ticks.csv"
    with scripted_server(*RESTARTED) as url:
        done = tickwire("record", "AAPL", "--url", url, "--out", str(out), "--duration", "2.5",
                        "--no-batch")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("updates after seq 1") == 1, done.stderr
    assert "(1 gaps, marked in column gap_before)" in done.stderr
    frame = read_recording(out)
    assert list(frame["price"]) == [150.0, 151.0, 152.0]
    assert list(frame["gap_before"]) == [False, True, False]


def test_record_status_on_a_non_terminal_is_whole_lines(server, tmp_path):
    out = tmp_path / "ticks.csv"
    done = tickwire("record", "AAPL", "--url", server.ws_url, "--out", str(out),
                    "--duration", "1.5")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "\x1b" not in done.stderr
    lines = done.stderr.splitlines()
    assert all(line.startswith("tickwire: ") for line in lines), done.stderr
    assert lines[-1] == f"tickwire: recorded {len(read_recording(out))} rows to {out}"


def test_an_existing_output_is_refused_with_the_option_that_replaces_it(server, tmp_path):
    out = tmp_path / "ticks.csv"
    out.write_text("precious\n")
    done = tickwire("record", "AAPL", "--url", server.ws_url, "--out", str(out))
    assert done.returncode == 1
    assert f"{out} exists" in done.stderr and "--force" in done.stderr, done.stderr
    assert out.read_text() == "precious\n"


def test_force_keeps_the_old_file_when_the_connection_fails(tmp_path):
    out = tmp_path / "ticks.csv"
    out.write_text("precious\n")
    url = f"ws://127.0.0.1:{free_port()}/ws/realtime/"
    done = tickwire("record", "AAPL", "--url", url, "--out", str(out), "--force",
                    "--retries", "0")  # fmt: skip
    assert done.returncode == 1 and "cannot connect" in done.stderr
    assert out.read_text() == "precious\n"


def test_force_replaces_the_old_file_once_connected(server, tmp_path):
    out = tmp_path / "ticks.csv"
    out.write_text("precious\n")
    done = tickwire("record", "AAPL", "--url", server.ws_url, "--out", str(out), "--force",
                    "--duration", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    frame = read_recording(out)
    assert len(frame) > 0 and set(frame["symbol"]) == {"AAPL"}
