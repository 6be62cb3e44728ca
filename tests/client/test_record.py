"""Recorders write in batches; readers get the rows back, gaps marked."""

import pandas as pd
import pytest

from tickwire.client import CsvRecorder, ParquetRecorder, open_recorder
from tickwire.client.dataframes import read_recording, stats_frame, updates_frame, window_frame
from tickwire.client.record import COLUMNS
from tickwire.client.stats import RollingStats, RollingWindow

from .test_stats import update


def updates(n, symbol="AAPL"):
    return [
        update(symbol, 100.0 + i, 1000 + i, ts=f"2024-01-15T10:30:{i % 60:02d}.000Z", seq=i + 1)
        for i in range(n)
    ]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_rows_are_written_in_batches_and_read_back(tmp_path, suffix):
    path = tmp_path / f"ticks.{suffix}"
    rec = open_recorder(path, batch_size=10, flush_seconds=3600)
    for u in updates(25):
        rec.write(u, received_at=1705314600.5)
    assert (rec.rows_written, rec.rows_pending, rec.batches_written) == (20, 5, 2)
    rec.mark_gap("AAPL")
    rec.write(updates(1)[0])
    rec.close()
    assert rec.rows_written == 26
    frame = read_recording(path)
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 26
    assert frame["seq"].tolist()[:3] == [1, 2, 3]
    assert frame["price"].tolist()[:2] == [100.0, 101.0]
    assert frame["gap_before"].tolist() == [False] * 25 + [True]
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert frame["received_at"].iloc[0] == pd.Timestamp("2024-01-15T10:30:00.5Z")


def test_csv_batches_are_on_disk_before_close(tmp_path):
    path = tmp_path / "t.csv"
    rec = CsvRecorder(path, batch_size=3, flush_seconds=3600)
    for u in updates(7):
        rec.write(u)
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 6  # header + two complete batches; the 7th row is pending
    rec.close()
    assert len(path.read_text().splitlines()) == 8


def test_parquet_batches_are_readable_before_close(tmp_path):
    path = tmp_path / "t.parquet"
    rec = ParquetRecorder(path, batch_size=4, flush_seconds=3600)
    for u in updates(9):
        rec.write(u)
    assert not path.exists()
    assert len(read_recording(rec.parts)) == 8  # what a crash now would leave
    rec.close()
    assert not rec.parts.exists() and len(read_recording(path)) == 9


def test_existing_outputs_are_not_overwritten_by_accident(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("precious\n")
    with pytest.raises(FileExistsError):
        open_recorder(path)
    assert path.read_text() == "precious\n"
    open_recorder(path, overwrite=True).close()
    assert path.read_text().startswith("received_at,")
    (tmp_path / "t.parquet.parts").mkdir()
    with pytest.raises(FileExistsError, match="interrupted recording"):
        open_recorder(tmp_path / "t.parquet")


@pytest.mark.parametrize("name", ["t.json", "nofolder/t.csv"])
def test_bad_output_paths_are_refused(tmp_path, name):
    with pytest.raises((ValueError, FileNotFoundError)):
        open_recorder(tmp_path / name)


def test_writing_after_close_is_an_error(tmp_path):
    rec = open_recorder(tmp_path / "t.csv")
    rec.close()
    with pytest.raises(ValueError):
        rec.write(updates(1)[0])


def test_dataframe_helpers():
    win = RollingWindow(3)
    for i in range(5):
        win.add(10.0 + i, 2.0, at=1705314600.0 + i)
    frame = window_frame(win)
    assert frame["price"].tolist() == [12.0, 13.0, 14.0]
    assert frame["at"].iloc[0] == pd.Timestamp("2024-01-15T10:30:02Z")
    frame = updates_frame(updates(4))
    assert frame["symbol"].tolist() == ["AAPL"] * 4 and frame["seq"].tolist() == [1, 2, 3, 4]
    stats = RollingStats(2)
    for u in updates(3) + updates(2, "MSFT"):
        stats.update(u)
    frame = stats_frame(stats)
    assert frame.loc["AAPL", "mean"] == 101.5 and frame.loc["MSFT", "count"] == 2
