"""start_price_feed and update_asset_prices: arguments, errors and what they write."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.servers import ROOT
from tickwire.assets.bars import save_bars
from tickwire.assets.models import Asset, PriceBar
from tickwire.stream.feeds import Bar

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# -- start_price_feed -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "0"], "must be a positive number of seconds"),
        (["--interval", "soon"], "is not a number"),
        (["--batch-size", "0"], "must be at least 1"),
        (["--source", "bloomberg"], "invalid choice: 'bloomberg'"),
        (["--symbols", "AA PL"], "is not a valid symbol"),
        (["--option", "colour=red"], "unknown option 'colour'"),
        (["--broker", "http://x"], "is not a broker URL"),
    ],
)
def test_start_price_feed_rejects_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("start_price_feed", *args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timeout", "-1"], "must be a positive number of seconds"),
        (["--timeout", "nan"], "is not a finite number"),
        (["--days", "0"], "must be at least 1"),
        (["--source", "bloomberg"], "invalid choice: 'bloomberg'"),
        (["--option", "colour=red"], "unknown option 'colour'"),
    ],
)
def test_update_asset_prices_rejects_bad_arguments_as_usage_errors(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("update_asset_prices", *args)


def test_start_price_feed_refuses_the_memory_broker(demo):
    with pytest.raises(CommandError, match="TICKWIRE_BROKER_URL is memory://"):
        call_command("start_price_feed", "--interval", "1")


def test_start_price_feed_reports_source_configuration_errors(demo):
    with pytest.raises(CommandError, match="needs an API key"):
        call_command("start_price_feed", "--source", "finnhub", "--broker", "memory://x")
    with pytest.raises(CommandError, match=r"unknown symbols .*: NOPE"):
        call_command("start_price_feed", "--symbols", "AAPL", "NOPE", "--broker", "memory://x")


def test_bad_arguments_on_the_command_line_are_a_usage_error():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tickwire.settings.test"}
    proc = subprocess.run(
        [sys.executable, "manage.py", "start_price_feed", "--batch-size", "-3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "usage: manage.py start_price_feed" in proc.stderr
    assert "argument --batch-size: '-3' must be at least 1" in proc.stderr


# -- update_asset_prices --------------------------------------------------------------------


def test_update_writes_fresh_prices_for_the_named_symbols(demo):
    before = {a.symbol: a.current_price for a in Asset.objects.all()}
    out = run("update_asset_prices", "--symbols", "aapl", "MSFT")
    assert "AAPL" in out and "->" in out and "updated 2 of 2 assets from simulator" in out
    after = {a.symbol: a.current_price for a in Asset.objects.all()}
    changed = {s for s in before if before[s] != after[s]}
    assert changed == {"AAPL", "MSFT"}


def test_update_all_assets(demo):
    out = run("update_asset_prices")
    assert "updated 15 of 15 assets" in out


def test_dry_run_prints_and_writes_nothing(demo):
    before = list(Asset.objects.values_list("symbol", "current_price", "last_updated"))
    out = run("update_asset_prices", "--symbols", "AAPL", "--dry-run")
    assert "would update 1 of 1 assets" in out and "AAPL" in out
    assert list(Asset.objects.values_list("symbol", "current_price", "last_updated")) == before
    out = run("update_asset_prices", "--historical", "--days", "3", "--dry-run")
    assert "would write 45 daily bars" in out
    assert PriceBar.objects.count() == 0


def test_unknown_symbols_are_named_and_nothing_is_written(demo):
    before = list(Asset.objects.values_list("current_price", flat=True))
    with pytest.raises(CommandError, match="unknown symbols: NOPE, ZZZ"):
        call_command("update_asset_prices", "--symbols", "AAPL", "NOPE", "ZZZ")
    assert list(Asset.objects.values_list("current_price", flat=True)) == before


def test_unknown_symbol_exit_status_from_the_command_line(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tickwire.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    proc = subprocess.run(
        [sys.executable, "manage.py", "update_asset_prices", "--symbols", "NOPE"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "CommandError: unknown symbols: NOPE" in proc.stderr


def test_historical_writes_daily_bars(demo):
    out = run("update_asset_prices", "--symbols", "AAPL", "--historical", "--days", "5")
    assert "wrote 5 daily bars for 1 assets from simulator" in out
    days = list(
        PriceBar.objects.filter(asset__symbol="AAPL", interval="1d").values_list("start", flat=True)
    )
    assert len(days) == 5 and all(d.hour == 0 and d.minute == 0 for d in days)
    last = PriceBar.objects.filter(asset__symbol="AAPL", interval="1d").last()
    assert last.close == Decimal("268.40000000")  # the history ends at today's price


def test_historical_without_source_history_rolls_up_minute_bars(demo):
    now = int(datetime.now(UTC).timestamp()) // 86400 * 86400
    save_bars([Bar("AAPL", 60, now, 1, 3, 0.5, 2, 10), Bar("AAPL", 60, now + 60, 2, 4, 1.5, 3, 5)])
    out = run(
        "update_asset_prices",
        "--symbols",
        "AAPL",
        "--historical",
        "--days",
        "2",
        "--source",
        "websocket",
        "-o",
        "url=ws://127.0.0.1:9/",
    )
    assert "the websocket source provides no history; rolling up stored 1-minute bars" in out
    day = PriceBar.objects.get(asset__symbol="AAPL", interval="1d")
    assert (day.open, day.high, day.low, day.close, day.volume) == (1, 4, Decimal("0.5"), 3, 15)


def test_days_needs_historical_and_a_sane_number(demo):
    with pytest.raises(CommandError, match="--days goes with --historical"):
        call_command("update_asset_prices", "--days", "3")
    with pytest.raises(CommandError, match="more than 3650 days"):
        call_command("update_asset_prices", "--historical", "--days", "99999")


def test_replay_file_as_source_and_symbols_without_a_quote(demo, tmp_path):
    ticks = tmp_path / "ticks.csv"
    ticks.write_text("symbol,price,volume,ts\nAAPL,270.5,10,1763740800\nAAPL,271.25,5,1763740801\n")
    with pytest.raises(CommandError, match="no quote from replay for: MSFT"):
        run(
            "update_asset_prices",
            "--symbols",
            "AAPL",
            "MSFT",
            "--source",
            "replay",
            "-o",
            f"file={ticks}",
        )
    # The symbols that did get a quote were still written.
    assert Asset.objects.get(symbol="AAPL").current_price == Decimal("271.25")
