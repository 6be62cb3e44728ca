"""Sources by name, configured from plain option dicts and the environment."""

from __future__ import annotations

import pytest

from tickwire.realtime.runtime import build_feed_source
from tickwire.stream.feeds import SOURCES, SourceConfigError, build_source
from tickwire.stream.feeds.http import HttpPollingSource
from tickwire.stream.feeds.kabu import KabuStationSource
from tickwire.stream.feeds.registry import options_from_env, parse_option
from tickwire.stream.feeds.replay import ReplaySource
from tickwire.stream.feeds.simulator import SimulatorSource
from tickwire.stream.feeds.websocket import (
    BinanceSource,
    CoinbaseSource,
    FinnhubSource,
    GenericWebSocketSource,
)

from .conftest import CRYPTO, STOCKS


def make(name, **options):
    return build_source(name, STOCKS + CRYPTO, interval=2.0, batch_size=7, options=options)


def test_every_source_is_built_by_name_from_string_options(tmp_path):
    ticks = tmp_path / "t.csv"
    ticks.write_text("symbol,price,ts\nAAPL,1,1\n")
    built = {
        "simulator": make("simulator", seed="3"),
        "finnhub": make("finnhub", api_key="k", silence_timeout="12.5"),
        "binance": make("binance", streams="trade,ticker", symbol_map="BTC-USD=BTCFDUSD"),
        "coinbase": make("coinbase", url="wss://example.test/ws"),
        "websocket": make("websocket", url="ws://x.test/", fields="price=p,symbol=s", match="t=q"),
        "http": make("http", url="https://x.test/q?s={symbols}", items="data"),
        "kabu": make("kabu", password="pw", exchange="3"),
        "replay": make("replay", file=str(ticks), speed="10", loop="yes"),
    }
    assert set(built) == set(SOURCES)
    assert isinstance(built["simulator"], SimulatorSource) and built["simulator"].batch_size == 7
    assert isinstance(built["finnhub"], FinnhubSource) and built["finnhub"].silence_timeout == 12.5
    binance = built["binance"]
    assert isinstance(binance, BinanceSource) and binance.streams == ("trade", "ticker")
    assert binance.symbols.to_provider == {"BTC-USD": "BTCFDUSD", "ETH-USD": "ethusdt"}
    assert isinstance(built["coinbase"], CoinbaseSource)
    assert isinstance(built["websocket"], GenericWebSocketSource)
    assert built["websocket"].fields["symbol"] == "s" and built["websocket"].match == ("t", "q")
    http = built["http"]
    assert isinstance(http, HttpPollingSource) and http.interval == 2.0 and http.batch_size == 7
    kabu = built["kabu"]
    assert isinstance(kabu, KabuStationSource) and kabu.registrations[0]["Exchange"] == 3
    replay = built["replay"]
    assert isinstance(replay, ReplaySource) and replay.loop is True and replay.speed == 10


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("nope", {}, "unknown data source 'nope'; available: simulator, finnhub"),
        ("finnhub", {}, "needs an API key"),
        ("finnhub", {"api_key": "k", "silence_timeout": "soon"}, "TICKWIRE_FEED_SILENCE_TIMEOUT"),
        ("replay", {"file": "x.csv", "loop": "maybe"}, "TICKWIRE_FEED_LOOP"),
        ("binance", {"streams": "depth"}, "trade and/or ticker"),
        ("binance", {"symbol_map": "BTC-USD"}, "NAME=VALUE"),
        ("simulator", {"colour": "red"}, "unknown source options"),
        ("websocket", {}, "needs a url"),
        ("kabu", {}, "password"),
    ],
)
def test_bad_configuration_names_the_option(name, options, message):
    with pytest.raises(SourceConfigError, match=message.replace("(", r"\(")):
        make(name, **options)


def test_options_come_from_tickwire_feed_variables():
    env = {"TICKWIRE_FEED_URL": "wss://x", "TICKWIRE_FEED_API_KEY": "k", "OTHER": "1"}
    assert options_from_env(env) == {"url": "wss://x", "api_key": "k"}
    assert parse_option("api-key=abc=") == ("api_key", "abc=")
    with pytest.raises(SourceConfigError, match="unknown option"):
        parse_option("colour=red")


def test_runtime_wrapper_applies_settings_and_overrides(settings):
    settings.TICKWIRE_FEED_OPTIONS = {"api_key": "from-settings", "url": "wss://a.test/"}
    source = build_feed_source(STOCKS, source="finnhub", options={"url": "wss://b.test/"})
    assert isinstance(source, FinnhubSource)
    assert source.api_key == "from-settings" and source.url == "wss://b.test/"
    sim = build_feed_source(STOCKS, source="simulator")
    assert sim.interval == settings.REALTIME_UPDATE_INTERVAL
