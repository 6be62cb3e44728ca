"""update_asset_prices --historical against a fake Binance: exact bars, resuming, progress."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.servers import ROOT
from tests.stream.feeds.fakes import Reply
from tests.stream.feeds.history_fakes import FakeBinance, bar_at
from tickwire.assets.models import HistoryCoverage, PriceBar

pytestmark = pytest.mark.django_db(transaction=True)

DAY = 86400


def backfill(fake: FakeBinance, *args: str) -> str:
    out = StringIO()
    call_command(
        "update_asset_prices", "--historical", "--source", "binance",
        "-o", f"rest_url={fake.url}", *args, stdout=out,
    )  # fmt: skip
    return out.getvalue()


def stored(
    symbol: str, interval: str = "1d"
) -> list[tuple[int, float, float, float, float, float]]:
    rows = PriceBar.objects.filter(asset__symbol=symbol, interval=interval).order_by("start")
    return [
        (int(r.start.timestamp()), float(r.open), float(r.high), float(r.low), float(r.close),
         float(r.volume))
        for r in rows
    ]  # fmt: skip


def expected(
    starts: list[int], interval: int
) -> list[tuple[int, float, float, float, float, float]]:
    out = []
    for start in starts:
        b = bar_at("X", interval, start)
        out.append((b.start, b.open, b.high, b.low, b.close, b.volume))
    return out


def today() -> int:
    return int(time.time()) // DAY * DAY


def test_daily_bars_are_exact_with_a_line_per_symbol_and_a_total(demo):
    with FakeBinance() as fake:
        out = backfill(fake, "--symbols", "BTC-USD", "ETH-USD", "--days", "5")
    days = [today() - n * DAY for n in range(4, -1, -1)]
    assert stored("BTC-USD") == expected(days, DAY) == stored("ETH-USD")
    first = datetime.fromtimestamp(days[0], UTC).strftime("%Y-%m-%d")
    last = datetime.fromtimestamp(days[-1], UTC).strftime("%Y-%m-%d")
    close = expected(days, DAY)[-1][4]
    assert f"BTC-USD        5 daily bars {first} .. {last}, last close {close:g}, 1 pages\n" in out
    assert out.endswith("wrote 10 daily bars for 2 assets from binance\n")
    assert [q["symbol"] for q in fake.queries] == ["BTCUSDT", "ETHUSDT"]


def test_a_rerun_changes_nothing_and_asks_only_for_the_open_day(demo):
    with FakeBinance() as fake:
        backfill(fake, "--symbols", "BTC-USD", "--days", "30")
        before = stored("BTC-USD")
        coverage = list(HistoryCoverage.objects.values_list("start", "end", "updated_at"))
        out = backfill(fake, "--symbols", "BTC-USD", "--days", "30")
    assert stored("BTC-USD") == before and len(before) == 30
    assert list(HistoryCoverage.objects.values_list("start", "end", "updated_at")) == coverage
    assert len(fake.requests) == 2  # the second run asked for today only
    assert fake.queries[1]["startTime"] == str(today() * 1000)
    assert "29 already fetched" in out


def test_an_interrupted_backfill_keeps_its_pages_and_the_rerun_fetches_only_the_rest(demo):
    # 1-minute bars of a day are two pages (1000 + 440); the second request fails.
    fault = Reply(500, {"code": -1000, "msg": "internal"})
    with (
        FakeBinance(faults={2: fault}) as fake,
        pytest.raises(CommandError, match=r"history from binance failed for: BTC-USD$"),
    ):
        backfill(fake, "--symbols", "BTC-USD", "ETH-USD", "--interval", "1m", "--days", "1")
    first_run = stored("BTC-USD", "1m")
    assert len(first_run) == 1000
    assert first_run == expected([s for s, *_ in first_run], 60)
    assert len(stored("ETH-USD", "1m")) in (1440, 1441)  # the other symbol was not lost
    resume_at = first_run[-1][0] + 60
    cover = HistoryCoverage.objects.get(asset__symbol="BTC-USD")
    assert (int(cover.start.timestamp()), int(cover.end.timestamp())) == (
        first_run[0][0],
        resume_at,
    )

    with FakeBinance() as fake:
        out = backfill(fake, "--symbols", "BTC-USD", "--interval", "1m", "--days", "1")
    assert len(fake.requests) == 1 and fake.queries[0]["startTime"] == str(resume_at * 1000)
    assert "1000 already fetched" in out
    bars = stored("BTC-USD", "1m")
    starts = [s for s, *_ in bars]
    assert starts[:1000] == [s for s, *_ in first_run]
    assert starts == list(range(starts[0], starts[-1] + 60, 60))  # no hole, no repeat
    assert starts[-1] >= int(time.time()) // 60 * 60 - 60
    assert bars == expected(starts, 60)


def test_dry_run_fetches_and_writes_nothing(demo):
    with FakeBinance() as fake:
        out = backfill(fake, "--symbols", "BTC-USD", "--days", "3", "--dry-run")
    assert "would write 3 daily bars for 1 assets from binance" in out
    assert not PriceBar.objects.exists() and not HistoryCoverage.objects.exists()


def test_1m_without_history_says_so(demo):
    with pytest.raises(CommandError, match="websocket source provides no history; 1-minute"):
        call_command(
            "update_asset_prices", "--historical", "--interval", "1m", "--source", "websocket",
            "-o", "url=ws://127.0.0.1:9/", stdout=StringIO(),
        )  # fmt: skip
    with pytest.raises(CommandError, match="--interval goes with --historical"):
        call_command("update_asset_prices", "--interval", "1d")


def _read_all(fd: int, proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    return b"".join(chunks)


@pytest.fixture
def command_line(tmp_path):
    """A migrated SQLite file database with BTC-USD, and how to run manage.py on it."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tickwire.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "TERM": "xterm-256color",
        "COLUMNS": "120",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    create = "from tickwire.assets.models import Asset; Asset.objects.create(symbol='BTC-USD', name='Bitcoin', kind='crypto')"
    subprocess.run([*manage, "shell", "-c", create], cwd=ROOT, env=env, check=True, timeout=60)
    return env, manage, tmp_path / "db.sqlite3"


def test_progress_bars_on_a_terminal_and_lines_in_a_pipe(command_line):
    env, manage, _ = command_line
    with FakeBinance() as fake:
        args = [*manage, "update_asset_prices", "--historical", "--days", "5", "--source",
                "binance", "-o", f"rest_url={fake.url}"]  # fmt: skip
        controller, terminal = pty.openpty()
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=terminal, stderr=subprocess.PIPE)
        os.close(terminal)
        try:
            shown = _read_all(controller, proc, 60).decode(errors="replace")
            assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
        finally:
            os.close(controller)
            if proc.poll() is None:
                proc.kill()
            if proc.stderr:
                proc.stderr.close()
        piped = subprocess.run(
            [*args, "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    assert "━" in shown and "100%" in shown and "1 symbols" in shown and "BTC-USD" in shown
    assert "wrote 5 daily bars for 1 assets from binance" in shown
    assert piped.returncode == 0 and "━" not in piped.stdout and "\x1b" not in piped.stdout
    lines = piped.stdout.splitlines()
    assert lines[0].startswith("BTC-USD        1 daily bars") and lines[0].endswith(
        "4 already fetched"
    )
    assert lines[1:] == ["would write 1 daily bars for 1 assets from binance"]


def _minute_bars(db) -> list[int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT start FROM assets_pricebar WHERE interval = '1m' ORDER BY start"
        ).fetchall()
    return [int(datetime.fromisoformat(r[0]).replace(tzinfo=UTC).timestamp()) for r in rows]


def test_ctrl_c_during_a_request_keeps_the_written_pages_and_the_rerun_fetches_the_rest(
    command_line,
):
    env, manage, db = command_line
    with FakeBinance(hold=2) as fake:
        args = [*manage, "update_asset_prices", "--historical", "--interval", "1m", "--days",
                "1", "--source", "binance", "-o", f"rest_url={fake.url}"]  # fmt: skip
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            # The second request is sent only after the first page was written.
            assert fake.held.wait(60), "the second request never came"
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        finally:
            fake.release()
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
    assert proc.returncode != 0
    kept = _minute_bars(db)
    assert len(kept) == 1000 and kept == list(range(kept[0], kept[0] + 60_000, 60))

    with FakeBinance() as fake:
        args[-1] = f"rest_url={fake.url}"
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(fake.requests) == 1 and fake.queries[0]["startTime"] == str((kept[-1] + 60) * 1000)
    # 1000 minutes were fetched; one fewer lies in the range if a minute began between runs.
    assert re.search(r"\b(999|1000) already fetched", done.stdout), done.stdout
    bars = _minute_bars(db)
    assert bars[:1000] == kept and bars == list(range(bars[0], bars[-1] + 60, 60))


def test_refetch_asks_for_the_whole_range_again(demo):
    with FakeBinance() as fake:
        backfill(fake, "--symbols", "BTC-USD", "--days", "3")
        out = backfill(fake, "--symbols", "BTC-USD", "--days", "3", "--refetch")
    assert [q["startTime"] for q in fake.queries] == [str((today() - 2 * DAY) * 1000)] * 2
    assert "3 daily bars" in out and "already fetched" not in out
    assert len(stored("BTC-USD")) == 3
