"""TICKWIRE_FEED_SOURCES: parsing, routing assets to sources, and every configuration
mistake as an error naming the entry and the field."""

from __future__ import annotations

import json

import pytest

from tests.servers import ROOT
from tickwire.stream.feeds import Instrument, RoutedSource
from tickwire.stream.feeds.routes import (
    RouteConfigError,
    build_routed_source,
    load_routes_text,
    parse_routes,
    plan_routes,
    single_route,
)
from tickwire.stream.feeds.simulator import SimulatorSource
from tickwire.stream.feeds.websocket import BinanceSource, CoinbaseSource, FinnhubSource

ASSETS = [
    Instrument("AAPL", 268.4, kind="stock", exchange="NASDAQ"),
    Instrument("IBM", 250.0, kind="stock", exchange="NYSE"),
    Instrument("SPY", 600.0, kind="etf", exchange="NYSE"),
    Instrument("BTC-USD", 104250.5, kind="crypto"),
    Instrument("ETH-USD", 3685.4, kind="crypto"),
    Instrument("EUR-USD", 1.08, kind="fx"),
]

EXAMPLE = [
    {
        "name": "stocks",
        "source": "finnhub",
        "kinds": ["stock", "etf"],
        "options": {"api_key": "k"},
    },
    {
        "name": "crypto",
        "source": "binance",
        "kinds": "crypto",
        "backup": "crypto-backup",
        "stale_after": 10,
        "recover_after": 60,
    },
    {"name": "crypto-backup", "source": "coinbase"},
    {
        "name": "fx",
        "source": "http",
        "kinds": ["fx"],
        "options": {"url": "http://127.0.0.1:9/quotes?symbols={symbols}"},
    },
]


def error(raw, instruments=ASSETS) -> str:
    with pytest.raises(RouteConfigError) as info:
        build_routed_source(parse_routes(raw), instruments, interval=1.0, batch_size=10)
    return str(info.value)


def test_routes_by_kind_with_a_hot_backup_that_also_serves_its_standby_assets():
    plan = plan_routes(parse_routes(EXAMPLE), ASSETS)
    assert plan.primary == {
        "AAPL": "stocks",
        "IBM": "stocks",
        "SPY": "stocks",
        "BTC-USD": "crypto",
        "ETH-USD": "crypto",
        "EUR-USD": "fx",
    }
    assert plan.backup == {"BTC-USD": "crypto-backup", "ETH-USD": "crypto-backup"}
    assert [i.symbol for i in plan.instruments["crypto-backup"]] == ["BTC-USD", "ETH-USD"]
    assert plan.unrouted == []


def test_the_routed_source_builds_each_configured_source_over_its_assets():
    source = build_routed_source(parse_routes(EXAMPLE), ASSETS, interval=1.0, batch_size=10)
    assert isinstance(source, RoutedSource)
    members = {name: m.source for name, m in source.members.items()}
    assert isinstance(members["stocks"], FinnhubSource)
    assert isinstance(members["crypto"], BinanceSource)
    assert isinstance(members["crypto-backup"], CoinbaseSource)
    assert list(members["crypto-backup"].symbols.to_provider) == ["BTC-USD", "ETH-USD"]
    assert source.members["crypto"].stale_after == 10.0
    assert source.members["crypto"].recover_after == 60.0
    assert source.status()["assets"]["BTC-USD"] == {
        "active": "crypto",
        "primary": "crypto",
        "backup": "crypto-backup",
        "since": source.routes["BTC-USD"].since,
        "switches": 0,
        "last_switch_reason": None,
    }


def test_routes_by_exchange_and_explicit_symbols_win_over_kinds():
    raw = {
        "nyse": {"source": "simulator", "exchanges": ["NYSE"]},
        "nasdaq-stocks": {"source": "simulator", "kinds": "stock", "exchanges": "NASDAQ"},
        "chosen": {"source": "simulator", "symbols": ["spy", "btc-usd"]},
    }
    plan = plan_routes(parse_routes(raw), ASSETS)
    assert plan.primary == {
        "AAPL": "nasdaq-stocks",
        "IBM": "nyse",
        "SPY": "chosen",
        "BTC-USD": "chosen",
    }
    assert plan.unrouted == ["ETH-USD", "EUR-USD"]


def test_a_source_with_a_symbol_map_and_no_selector_serves_exactly_the_mapped_symbols():
    raw = [
        {"name": "kabu", "source": "kabu", "options": {"symbol_map": "AAPL=7203"}},
        {"name": "rest", "source": "simulator", "kinds": ["stock", "etf", "crypto", "fx"]},
    ]
    plan = plan_routes(parse_routes(raw), ASSETS)
    assert plan.primary["AAPL"] == "kabu"
    assert [i.symbol for i in plan.instruments["kabu"]] == ["AAPL"]
    assert plan.primary["IBM"] == "rest"


def test_one_route_without_backup_is_the_plain_source():
    source = build_routed_source(
        [single_route("simulator", {"seed": 3})], ASSETS, interval=1.0, batch_size=10
    )
    assert isinstance(source, SimulatorSource)
    assert {t.symbol for t in source.step()} == {i.symbol for i in ASSETS}


def test_the_single_source_symbol_map_naming_a_missing_asset_is_an_error_not_a_fallback():
    with pytest.raises(RouteConfigError) as info:
        build_routed_source(
            [single_route("kabu", {"symbol_map": "TOYOTA=7203"})],
            ASSETS,
            interval=1.0,
            batch_size=10,
        )
    assert str(info.value) == (
        "kabu option symbol_map (TICKWIRE_FEED_SYMBOL_MAP) names TOYOTA, not an active "
        "asset with a price (add it with `tickwire manage add_asset SYMBOL --price P`, or remove it)"
    )


def test_a_single_source_symbol_map_renames_without_narrowing_what_the_source_carries():
    # Mapping one odd symbol must not stop the others: Binance still carries every crypto
    # asset, Finnhub everything; only kabu (no default market here) serves just its map.
    binance = build_routed_source(
        [single_route("binance", {"symbol_map": "BTC-USD=BTCFDUSD"})],
        ASSETS,
        interval=1.0,
        batch_size=10,
    )
    assert binance.symbols.to_provider == {"BTC-USD": "BTCFDUSD", "ETH-USD": "ethusdt"}
    finnhub = build_routed_source(
        [single_route("finnhub", {"symbol_map": "BTC-USD=BINANCE:BTCUSDT", "api_key": "k"})],
        ASSETS,
        interval=1.0,
        batch_size=10,
    )
    assert finnhub.symbols.to_provider["BTC-USD"] == "BINANCE:BTCUSDT"
    assert set(finnhub.symbols.to_provider) == {i.symbol for i in ASSETS}
    kabu = build_routed_source(
        [single_route("kabu", {"symbol_map": "AAPL=7203", "password": "p"})],
        ASSETS,
        interval=1.0,
        batch_size=10,
    )
    assert kabu.symbols.to_provider == {"AAPL": "7203"}


def test_a_subset_of_instruments_skips_names_outside_it():
    raw = [{"name": "pick", "source": "simulator", "symbols": ["AAPL", "IBM"]}]
    plan = plan_routes(parse_routes(raw), ASSETS[:1], complete=False)
    assert plan.primary == {"AAPL": "pick"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            [{"name": "a", "source": "bloomberg", "kinds": "stock"}],
            "TICKWIRE_FEED_SOURCES entry 'a': source = 'bloomberg': expected one of simulator,",
        ),
        (
            [{"source": "simulator", "kinds": "stock"}],
            "TICKWIRE_FEED_SOURCES entry #1: name is missing",
        ),
        (
            [{"name": "a", "source": "simulator", "kinds": "stock", "backup": "b"}],
            "TICKWIRE_FEED_SOURCES entry 'a': backup 'b' is not an entry; entries: a",
        ),
        (
            [
                {"name": "a", "source": "simulator", "kinds": "stock", "backup": "b"},
                {"name": "b", "source": "simulator", "kinds": "fx", "backup": "a"},
            ],
            "TICKWIRE_FEED_SOURCES entry 'a': backup loop a -> b -> a",
        ),
        (
            [{"name": "a", "source": "simulator", "kinds": "stock", "backup": "a"}],
            "TICKWIRE_FEED_SOURCES entry 'a': backup loop a -> a",
        ),
        (
            [
                {"name": "a", "source": "simulator", "kinds": "stock"},
                {"name": "a", "source": "simulator", "kinds": "fx"},
            ],
            "TICKWIRE_FEED_SOURCES entry 'a': name is used by two entries",
        ),
        (
            [{"name": "a", "source": "simulator"}],
            "TICKWIRE_FEED_SOURCES entry 'a': serves nothing: give kinds, exchanges or symbols",
        ),
        (
            [{"name": "a", "source": "simulator", "kind": "stock"}],
            "TICKWIRE_FEED_SOURCES entry 'a': unknown field(s) kind; known: name, source,",
        ),
        (
            [{"name": "a", "source": "binance", "kinds": "crypto", "options": {"colour": 1}}],
            "TICKWIRE_FEED_SOURCES entry 'a': options: unknown source options ['colour']",
        ),
        (
            [{"name": "a", "source": "simulator", "kinds": "fx", "stale_after": "soon"}],
            "TICKWIRE_FEED_SOURCES entry 'a': stale_after = 'soon': expected seconds > 0",
        ),
        (
            [{"name": "a", "source": "simulator", "kinds": []}],
            "TICKWIRE_FEED_SOURCES entry 'a': kinds is empty",
        ),
        ([], "TICKWIRE_FEED_SOURCES is empty"),
        ("finnhub", "TICKWIRE_FEED_SOURCES must be a list of entries or an object of them"),
    ],
)
def test_shape_mistakes_name_the_entry_and_the_field(raw, message):
    with pytest.raises(RouteConfigError) as info:
        parse_routes(raw)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            [
                {"name": "a", "source": "simulator", "kinds": "stock"},
                {"name": "b", "source": "simulator", "exchanges": "NYSE"},
            ],
            "TICKWIRE_FEED_SOURCES entry 'b': kinds/exchanges: IBM (stock, NYSE) is also "
            "served by entry 'a' (an asset has one primary; list it in symbols of one entry "
            "to choose)",
        ),
        (
            [
                {"name": "a", "source": "simulator", "symbols": "AAPL,IBM"},
                {"name": "b", "source": "simulator", "symbols": ["IBM"]},
            ],
            "TICKWIRE_FEED_SOURCES entry 'b': symbols: IBM is also listed by entry 'a' (an "
            "asset has one primary; use backup for a second source)",
        ),
        (
            [{"name": "a", "source": "simulator", "symbols": ["AAPL", "TOYOTA"]}],
            "TICKWIRE_FEED_SOURCES entry 'a': symbols names TOYOTA, not an active asset with "
            "a price (add it with `tickwire manage add_asset SYMBOL --price P`, or remove it)",
        ),
        (
            [{"name": "k", "source": "kabu", "options": {"symbol_map": "TOYOTA=7203"}}],
            "TICKWIRE_FEED_SOURCES entry 'k': options.symbol_map names TOYOTA, not an active "
            "asset with a price (add it with `tickwire manage add_asset SYMBOL --price P`, or remove it)",
        ),
        (
            [{"name": "k", "source": "kabu", "options": {"symbol_map": "TOYOTA"}}],
            "TICKWIRE_FEED_SOURCES entry 'k': options: kabu option symbol_map = 'TOYOTA': "
            "expected NAME=VALUE pairs separated by commas",
        ),
        (
            [{"name": "fx", "source": "http", "kinds": "fx"}],
            "TICKWIRE_FEED_SOURCES entry 'fx' (http): the http source needs a url",
        ),
        (
            [
                {
                    "name": "c",
                    "source": "binance",
                    "kinds": "crypto",
                    "options": {"silence_timeout": "never"},
                }
            ],
            "TICKWIRE_FEED_SOURCES entry 'c' (binance): binance option silence_timeout = "
            "'never': expected a number",
        ),
    ],
)
def test_mistakes_against_the_assets_name_the_entry_and_the_field(raw, message):
    assert error(raw).startswith(message)


def test_from_the_environment_as_json_or_a_json_or_toml_file(tmp_path):
    assert load_routes_text(json.dumps(EXAMPLE)) == EXAMPLE
    path = tmp_path / "sources.json"
    path.write_text(json.dumps(EXAMPLE))
    assert load_routes_text(str(path)) == EXAMPLE
    toml = tmp_path / "sources.toml"
    toml.write_text(
        '[[sources]]\nname = "crypto"\nsource = "binance"\nkinds = ["crypto"]\n'
        'backup = "cb"\n[[sources]]\nname = "cb"\nsource = "coinbase"\n'
    )
    specs = parse_routes(load_routes_text(str(toml)))
    assert [(s.name, s.source, s.backup) for s in specs] == [
        ("crypto", "binance", "cb"),
        ("cb", "coinbase", None),
    ]
    with pytest.raises(RouteConfigError, match="TICKWIRE_FEED_SOURCES is not valid JSON"):
        load_routes_text('[{"name": ')
    with pytest.raises(RouteConfigError, match="not JSON and not a readable file"):
        load_routes_text(str(tmp_path / "missing.json"))


def test_the_documented_example_is_valid_and_its_json_and_toml_forms_agree(tmp_path):
    text = (ROOT / "docs" / "sources.md").read_text()
    section = text[text.index("## Several sources at once") :]
    as_json = section.split("```json\n", 1)[1].split("```", 1)[0]
    as_toml = section.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "sources.toml"
    path.write_text(as_toml)
    from_json = parse_routes(load_routes_text(as_json))
    assert parse_routes(load_routes_text(str(path))) == from_json
    plan = plan_routes(from_json, ASSETS)
    assert plan.primary["AAPL"] == "stocks" and plan.primary["EUR-USD"] == "fx"
    assert plan.backup == {"BTC-USD": "crypto-backup", "ETH-USD": "crypto-backup"}
    build_routed_source(from_json, ASSETS, interval=1.0, batch_size=10)
