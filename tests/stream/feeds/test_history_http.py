"""The generic http source's history: a URL template, paths, windows or a cursor."""

import pytest

from tickwire.stream.feeds import HistoryUnavailable, Instrument, SourceConfigError, build_source
from tickwire.stream.feeds.history import HistoryError

from .history_fakes import FakeBarsApi, as_tuples, bars_in, collect

DAY = 86400
T0 = 1_700_000_000 // DAY * DAY
FIELDS = "time=t,open=o,high=h,low=l,close=c,volume=v"


def source(url, **options):
    return build_source(
        "http",
        [Instrument("AAPL", 1.0)],
        interval=60,
        batch_size=10,
        options={"url": "http://127.0.0.1:9/q?s={symbols}", "history_url": url, **options},
    )


async def test_time_windows_of_history_page_bars():
    with FakeBarsApi() as fake:
        src = source(
            fake.url + "/bars/{symbol}?seconds={seconds}&from={start}&to={end}",
            history_items="data.bars",
            history_fields=FIELDS,
            history_page="100",
        )
        pages = await collect(src.history_pages("AAPL", 60, T0, T0 + 250 * 60))
    assert [len(p) for p in pages] == [100, 100, 50]
    assert as_tuples([b for p in pages for b in p]) == as_tuples(
        bars_in("AAPL", 60, T0, T0 + 250 * 60)
    )
    assert [q["from"] for q in fake.queries] == [str(T0 + n * 6000) for n in range(3)]


async def test_cursor_paging_follows_the_cursor_until_there_is_none():
    with FakeBarsApi(page_size=40) as fake:
        src = source(
            fake.url + "/bars/{symbol}?seconds={seconds}&from={start}&to={end}&cursor={cursor}",
            history_items="data.bars",
            history_fields=FIELDS,
            history_cursor="next",
        )
        pages = await collect(src.history_pages("AAPL", DAY, T0, T0 + 100 * DAY))
    assert [len(p) for p in pages] == [40, 40, 20]
    assert [q.get("cursor") for q in fake.queries] == [None, str(T0 + 40 * DAY), str(T0 + 80 * DAY)]
    assert [b.start for p in pages for b in p] == list(range(T0, T0 + 100 * DAY, DAY))


async def test_the_api_key_goes_in_the_header_unless_the_history_url_carries_it():
    with FakeBarsApi() as fake:
        src = source(fake.url + "/bars/{symbol}?seconds={seconds}&from={start}&to={end}",
                     history_items="data.bars", history_fields=FIELDS, api_key="k1")  # fmt: skip
        await collect(src.history_pages("AAPL", DAY, T0, T0 + DAY))
        src = source(fake.url + "/bars/{symbol}?seconds={seconds}&from={start}&to={end}&key={api_key}",
                     history_items="data.bars", history_fields=FIELDS, api_key="k1")  # fmt: skip
        await collect(src.history_pages("AAPL", DAY, T0, T0 + DAY))
    assert fake.requests[0].headers.get("Authorization") == "Bearer k1"
    assert "Authorization" not in fake.requests[1].headers and fake.queries[1]["key"] == "k1"


async def test_without_history_url_there_is_no_history():
    src = build_source("http", [Instrument("AAPL", 1.0)], interval=60, batch_size=10,
                       options={"url": "http://127.0.0.1:9/q?s={symbols}"})  # fmt: skip
    with pytest.raises(HistoryUnavailable, match="the http source provides no history"):
        await collect(src.history_pages("AAPL", DAY, T0, T0 + DAY))


async def test_a_wrong_field_path_names_history_fields():
    with FakeBarsApi() as fake:
        src = source(fake.url + "/bars/{symbol}?seconds={seconds}&from={start}&to={end}",
                     history_items="data.bars", history_fields="time=t,open=o,high=h,low=l,close=close")  # fmt: skip
        with pytest.raises(HistoryError, match=r"bar 0: no field 'close' \(see history_fields\)"):
            await collect(src.history_pages("AAPL", DAY, T0, T0 + DAY))


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("http://x/bars", {}, "history_url must contain {symbol}"),
        ("ftp://x/{symbol}", {}, "history_url 'ftp://x/{symbol}' must start with http"),
        ("http://x/{symbol}", {"history_cursor": "next"}, "must contain {cursor}"),
        ("http://x/{symbol}", {"history_page": "0"}, "history_page must be at least 1"),
        ("http://x/{symbol}", {"history_page": "many"}, "history_page .* expected an integer"),
        (
            "http://x/{symbol}",
            {"history_fields": "when=t"},
            r"history_fields: unknown fields \['when'\]",
        ),
    ],
)
def test_bad_history_options_are_named(url, options, message):
    with pytest.raises(SourceConfigError, match=message):
        source(url, **options)
