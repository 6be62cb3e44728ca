"""TICKWIRE_FEED_SOURCES in the server: the in-process feed, the feed process and
update_asset_prices use the routes; status and /metrics show which source serves what; a
mistake stops the start with a line naming the entry and the field."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from tests.realtime.prometheus import samples
from tests.servers import ROOT
from tests.stream.feeds.fakes import eventually
from tests.stream.feeds.providers import Provider
from tickwire.env import StartupError
from tickwire.realtime import metrics, preflight, status
from tickwire.realtime.feedprocess import FeedOptions, run_feed_process
from tickwire.realtime.runtime import Runtime, build_feed_source
from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.feeds import RoutedSource
from tickwire.stream.feeds.kabu import KabuStationSource
from tickwire.stream.feeds.simulator import SimulatorSource

FAST = {"backoff_initial": 0.02, "backoff_max": 0.05}
STOCKS_AND_ETFS = 10  # in the demo set


def routes(main: Provider, spare: Provider) -> list[dict]:
    return [
        {
            "name": "stocks",
            "source": "websocket",
            "kinds": ["stock", "etf"],
            "options": {"url": main.url("/"), **FAST},
            "backup": "spare",
            "recover_after": 60,
        },
        {"name": "spare", "source": "websocket", "options": {"url": spare.url("/"), **FAST}},
        {"name": "sim", "source": "simulator", "kinds": ["crypto", "fx"]},
    ]


async def test_the_in_process_feed_runs_the_routes_and_reports_each_switch(demo, settings):
    async with Provider() as main, Provider() as spare:
        settings.TICKWIRE_FEED_SOURCES = routes(main, spare)
        rt = Runtime(broker=MemoryBroker())
        await rt.start(run_feed=True)
        try:
            assert rt.feed is not None
            source = rt.feed.source
            assert isinstance(source, RoutedSource)
            await main.next_connection()
            await spare.next_connection()
            await eventually(lambda: source.status()["connected"] is True, "sources up")
            body = await status.service_status(rt, None, staff=True)
            served = body["feed_routes"]
            assert served["assets"]["AAPL"]["active"] == "stocks"
            assert served["assets"]["AAPL"]["backup"] == "spare"
            assert served["assets"]["BTC-USD"] == {
                "active": "sim",
                "primary": "sim",
                "backup": None,
                "since": served["assets"]["BTC-USD"]["since"],
                "switches": 0,
                "last_switch_reason": None,
            }
            assert served["sources"]["stocks"]["up"] is True
            assert served["sources"]["spare"]["backup_for"] == STOCKS_AND_ETFS
            node = rt.cluster.node_id
            key = (("feed", node), ("route", "stocks"), ("source", "websocket"))
            got = samples(metrics.render(rt, []))
            assert got[("tickwire_feed_route_up", key)] == 1
            assert got[("tickwire_feed_route_active_assets", key)] == STOCKS_AND_ETFS

            await main.go_down()
            await eventually(lambda: source.routes["AAPL"].active == "spare", "failover")
            body = await status.service_status(rt, None, staff=True)
            aapl = body["feed_routes"]["assets"]["AAPL"]
            assert aapl["switches"] == 1
            assert aapl["last_switch_reason"] == "stocks down: not connected"
            got = samples(metrics.render(rt, []))
            assert got[("tickwire_feed_route_up", key)] == 0
            assert got[("tickwire_feed_route_active_assets", key)] == 0
            direction = (("direction", "to_backup"), *key)
            assert got[("tickwire_feed_failovers_total", direction)] == STOCKS_AND_ETFS
        finally:
            await rt.stop()


async def test_a_single_source_has_no_routes_in_status(demo, settings):
    settings.TICKWIRE_FEED_SOURCES = None
    rt = Runtime(broker=MemoryBroker())
    await rt.start(run_feed=True)
    try:
        assert isinstance(rt.feed.source, SimulatorSource)
        body = await status.service_status(rt, None, staff=True)
        assert "feed_routes" not in body
    finally:
        await rt.stop()


@pytest.mark.django_db
def test_a_route_naming_an_asset_the_database_lacks_stops_the_start(demo, settings):
    settings.TICKWIRE_FEED_IN_PROCESS = True
    settings.TICKWIRE_FEED_SOURCES = [
        {"name": "jp", "source": "kabu", "options": {"symbol_map": "TOYOTA=7203"}},
    ]
    with pytest.raises(StartupError) as info:
        preflight.check_feed(preflight.load_instruments())
    assert str(info.value) == (
        "TICKWIRE_FEED_SOURCES entry 'jp': options.symbol_map names TOYOTA, not an active "
        "asset with a price (add it with `tickwire manage add_asset SYMBOL --price P`, or remove it)"
    )


@pytest.mark.django_db
def test_unrouted_assets_are_a_warning_that_lists_them(demo, settings, caplog):
    settings.TICKWIRE_FEED_SOURCES = [
        {"name": "a", "source": "simulator", "kinds": "crypto"},
        {"name": "b", "source": "simulator", "kinds": "fx"},
    ]
    with caplog.at_level(logging.WARNING, "tickwire.feed"):
        preflight.check_feed(preflight.load_instruments())
    assert "no route serves 10 assets, which keep their stored prices: AAPL, AMZN" in caplog.text


async def test_the_feed_process_uses_the_routes_unless_a_source_is_given(demo, settings):
    settings.TICKWIRE_FEED_SOURCES = [
        {"name": "a", "source": "simulator", "kinds": ["stock", "etf"]},
        {"name": "b", "source": "simulator", "kinds": ["crypto", "fx"]},
    ]
    for given, kind in ((None, RoutedSource), ("simulator", SimulatorSource)):
        stop = asyncio.Event()
        options = FeedOptions(interval=0.01, batch_size=4, source=given)
        task = asyncio.ensure_future(run_feed_process(options, broker=MemoryBroker(), stop=stop))
        await asyncio.sleep(0.05)
        stop.set()
        feed = await asyncio.wait_for(task, 10)
        assert isinstance(feed.source, kind)
        assert feed.published > 0


@pytest.mark.django_db
def test_update_asset_prices_quotes_each_asset_from_its_route(demo, settings, capsys):
    settings.TICKWIRE_FEED_SOURCES = [
        {"name": "a", "source": "simulator", "kinds": ["stock", "etf"]},
        {"name": "b", "source": "simulator", "kinds": ["crypto", "fx"], "backup": "a"},
    ]
    call_command("update_asset_prices", "--dry-run", "--symbols", "AAPL", "BTC-USD")
    out = capsys.readouterr().out
    assert "would update 2 of 2 assets from routed" in out
    settings.TICKWIRE_FEED_SOURCES = [{"name": "a", "source": "simulator", "symbols": ["NOPE"]}]
    with pytest.raises(CommandError, match="entry 'a': symbols names NOPE"):
        call_command("update_asset_prices", "--dry-run")


@pytest.mark.django_db
def test_the_single_source_symbol_map_naming_a_missing_asset_stops_the_start(demo, settings):
    settings.TICKWIRE_FEED_SOURCES = None
    settings.TICKWIRE_FEED_SOURCE = "kabu"
    settings.TICKWIRE_FEED_OPTIONS = {"symbol_map": "TOYOTA=7203", "password": "p"}
    with pytest.raises(StartupError) as info:
        preflight.check_feed(preflight.load_instruments())
    assert str(info.value) == (
        "data source kabu (TICKWIRE_FEED_SOURCE): kabu option symbol_map "
        "(TICKWIRE_FEED_SYMBOL_MAP) names TOYOTA, not an active asset with a price (add it "
        "with `tickwire manage add_asset SYMBOL --price P`, or remove it)"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('[{"name": "a", "source": "simulator"', "TICKWIRE_FEED_SOURCES is not valid JSON"),
        (
            '[{"name": "a", "source": "simulator", "kinds": "fx", "backup": "b"}]',
            "TICKWIRE_FEED_SOURCES entry 'a': backup 'b' is not an entry; entries: a",
        ),
        ("/nonexistent/sources.toml", "not JSON and not a readable file"),
    ],
)
def test_a_wrong_sources_variable_stops_the_server_in_one_line(value, message):
    result = subprocess.run(
        [sys.executable, "-m", "tickwire.serve", "--no-setup", "--port", "1"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tickwire.settings.local",
            "TICKWIRE_FEED_SOURCES": value,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.django_db
def test_the_readme_kabu_example_serves_the_added_asset_and_nothing_else(demo, settings):
    # README: add TOYOTA with add_asset, then TICKWIRE_FEED_SYMBOL_MAP=TOYOTA=7203.
    call_command(
        "add_asset", "TOYOTA", "--name", "Toyota Motor", "--exchange", "TSE",
        "--currency", "JPY", "--price", "2900", stdout=io.StringIO(),
    )  # fmt: skip
    settings.TICKWIRE_FEED_SOURCES = None
    settings.TICKWIRE_FEED_SOURCE = "kabu"
    settings.TICKWIRE_FEED_OPTIONS = {"symbol_map": "TOYOTA=7203", "password": "p"}
    instruments = preflight.load_instruments()
    preflight.check_feed(instruments)  # no StartupError
    source = build_feed_source(instruments)
    assert isinstance(source, KabuStationSource)
    assert source.registrations == [{"Symbol": "7203", "Exchange": 1}]
