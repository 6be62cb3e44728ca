"""Historical bars as DataFrames: from a real server's REST API (its demo history), from
loopback HTTP servers that misbehave, and from recordings."""

import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pandas as pd
import pytest

from tests.servers import free_port
from tests.stream.feeds.fakes import FakeHttpServer, Reply
from tickwire.client import APIError, AuthenticationError, ConnectionFailed, history, open_recorder
from tickwire.client.dataframes import resample_bars

from .test_stats import update


def api_bars(server, symbol, interval, start, end):
    query = f"interval={interval}&start={start.isoformat()}&end={end.isoformat()}"
    query = query.replace("+", "%2B")
    with urllib.request.urlopen(f"{server.url}/api/assets/{symbol}/bars/?{query}", timeout=30) as r:
        return json.load(r)


class Counting(httpx.HTTPTransport):
    """The real HTTP transport, counting the requests sent through it."""

    def __init__(self):
        super().__init__()
        self.requests = []

    def handle_request(self, request):
        self.requests.append(request)
        return super().handle_request(request)


def fixed_range():
    # Whole minutes inside the server's demo history (two days up to now), so the API and
    # the frame see the same bars however long the test takes.
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    return end - timedelta(hours=6), end


# -- from a real server --------------------------------------------------------------------


def test_bars_are_the_numbers_the_api_returned(server):
    start, end = fixed_range()
    frame = history.bars("aapl", "1m", start, end, url=server.ws_url)
    raw = api_bars(server, "AAPL", "1m", start, end)
    assert raw["count"] > 300 and not raw["truncated"]
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert frame.index.name == "start" and str(frame.index.tz) == "UTC"
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert all(str(t) == "float64" for t in frame.dtypes)
    assert frame.attrs == {"symbol": "AAPL", "interval": "1m"}
    assert len(frame) == raw["count"]
    first, last = raw["bars"][0], raw["bars"][-1]
    assert frame.index[0] == pd.Timestamp(first["start"])
    assert frame.iloc[-1]["close"] == float(last["close"])
    assert frame.iloc[0][["open", "high", "low", "close", "volume"]].tolist() == [
        float(first[c]) for c in ("open", "high", "low", "close", "volume")
    ]
    assert (frame["high"] >= frame["low"]).all()


def test_decimal_columns_keep_every_digit_the_server_stored(server):
    start, end = fixed_range()
    frame = history.bars("AAPL", "15m", start, end, url=server.url, decimal=True)
    raw = api_bars(server, "AAPL", "15m", start, end)
    assert len(frame) == raw["count"] > 10
    assert frame["close"].tolist() == [Decimal(b["close"]) for b in raw["bars"]]
    assert all(isinstance(v, Decimal) for v in frame["volume"])


def test_a_long_range_is_read_in_pages_that_join_without_gaps_or_repeats(server):
    start, end = fixed_range()
    whole = history.bars("MSFT", "1m", start, end, url=server.url)
    counting = Counting()
    paged = history.bars("MSFT", "1m", start, end, url=server.url, page_size=50,
                         transport=counting)  # fmt: skip
    # Six hours of minutes (361 bar starts) in windows of 50 minutes: 8 requests.
    assert len(counting.requests) == 8
    assert all(r.url.params["interval"] == "1m" for r in counting.requests)
    pd.testing.assert_frame_equal(paged, whole)
    assert len(paged) > 300


def test_pages_of_rolled_up_bars_align_to_the_interval(server):
    start, end = fixed_range()
    whole = history.bars("BTC-USD", "5m", start, end, url=server.url)
    paged = history.bars("BTC-USD", "5m", start, end, url=server.url, page_size=7)
    pd.testing.assert_frame_equal(paged, whole)
    assert (whole.index.minute % 5 == 0).all() and len(whole) >= 70


def test_times_may_be_text_timestamps_in_any_zone_or_unix_seconds(server, monkeypatch):
    start, end = fixed_range()
    monkeypatch.setenv("TICKWIRE_URL", server.ws_url)  # the default server, as the CLI's
    by_text = history.bars("ETH-USD", "15m", start.isoformat(), end.isoformat())
    tokyo = pd.Timestamp(end).tz_convert("Asia/Tokyo")
    by_stamp = history.bars("ETH-USD", "15m", pd.Timestamp(start), tokyo)
    by_seconds = history.bars("ETH-USD", "15m", start.timestamp(), int(end.timestamp()))
    assert len(by_text) > 10
    pd.testing.assert_frame_equal(by_stamp, by_text)
    pd.testing.assert_frame_equal(by_seconds, by_text)


def test_unknown_symbol_names_the_symbol(server):
    with pytest.raises(APIError) as caught:
        history.bars("NOPE", "1h", url=server.url)
    assert caught.value.status == 404
    assert caught.value.errors == {"symbol": ["Unknown symbol 'NOPE'."]}
    assert "Unknown symbol 'NOPE'" in str(caught.value)


def test_a_range_without_bars_is_an_empty_frame_of_the_same_shape(server):
    frame = history.bars("AAPL", "1h", "2001-01-01", "2001-01-02", url=server.url)
    assert frame.empty and list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert str(frame.index.tz) == "UTC" and frame.attrs["symbol"] == "AAPL"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"interval": "2m"}, "interval: '2m' is not one of 1m, 5m, 15m, 1h, 1d"),
        ({"start": "2026-02-01", "end": "2026-01-01"}, "start: 2026-02-01T00:00:00+00:00 is after end"),
        ({"start": datetime(2026, 1, 1)}, "start: datetime.datetime(2026, 1, 1, 0, 0) has no timezone"),
        ({"end": "yesterday"}, "end: 'yesterday' is not an ISO-8601 date or time"),
        ({"page_size": 0}, "page_size: 0 must be 1 to 5000 bars"),
        ({"symbol": "no spaces"}, "symbol: 'no spaces' is not a valid symbol"),
        ({"url": "ftp://x"}, "'ftp://x' is not a server URL"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_by_name_before_any_request(kwargs, field):
    with FakeHttpServer(lambda seen: Reply(500)) as fake:
        with pytest.raises(ValueError, match="^" + re.escape(field)):
            history.bars(**{"symbol": "AAPL", "url": fake.url, **kwargs})
        assert fake.requests == []


# -- servers that fail ---------------------------------------------------------------------


def test_a_server_error_says_so_with_its_status_and_retry_time():
    reply = Reply(503, {"detail": "database unavailable"}, {"Retry-After": "5"})
    with FakeHttpServer(lambda seen: reply) as fake, pytest.raises(APIError) as caught:
        history.bars("AAPL", "1m", url=fake.url)
    assert caught.value.status == 503
    assert str(caught.value) == (
        "server error: HTTP 503 Service Unavailable (retry after 5 s) reading AAPL's bars"
    )


def test_a_refused_token_is_an_authentication_error():
    with FakeHttpServer(lambda seen: Reply(401, {"detail": "Invalid token."})) as fake:
        with pytest.raises(AuthenticationError, match=r"Invalid token.*TICKWIRE_TOKEN"):
            history.bars("AAPL", "1m", url=fake.url, token="bad")
        assert fake.requests[0].headers["Authorization"] == "Token bad"


def test_something_that_is_not_tickwire_is_named():
    with (
        FakeHttpServer(lambda seen: Reply(200, {"hello": "world"})) as fake,
        pytest.raises(ConnectionFailed, match="did not answer bars"),
    ):
        history.bars("AAPL", "1m", url=fake.url)


def test_an_unreachable_server_is_a_connection_failure():
    port = free_port()
    with pytest.raises(ConnectionFailed, match=f"cannot reach http://127.0.0.1:{port}"):
        history.bars("AAPL", "1m", url=f"http://127.0.0.1:{port}", timeout=5)


def test_a_page_the_server_cut_short_is_followed_by_the_bars_before_it():
    # A server answering at most 3 bars a request, the latest ones, as the real one does
    # past its limit: the client asks again for the part before what it got.
    minutes = [datetime(2026, 3, 2, 10, m, tzinfo=UTC) for m in range(8)]

    def route(seen):
        q = httpx.URL(seen.path).params
        lo, hi = datetime.fromisoformat(q["start"]), datetime.fromisoformat(q["end"])
        inside = [m for m in minutes if lo <= m <= hi]
        bars = [{"start": m.isoformat().replace("+00:00", "Z"), "open": "1.5", "high": "2",
                 "low": "1", "close": f"{m.minute}.25", "volume": "10"} for m in inside[-3:]]  # fmt: skip
        return Reply(200, {"bars": bars, "truncated": len(inside) > 3})

    with FakeHttpServer(route) as fake:
        frame = history.bars("X", "1m", minutes[0], minutes[-1], url=fake.url)
    assert frame["close"].tolist() == [m.minute + 0.25 for m in minutes]
    assert len(fake.requests) == 3


# -- from recordings -----------------------------------------------------------------------


def ticks():
    # (seconds after 10:00, price, cumulative volume): three minutes, one of them empty.
    rows = [(5, 10.0, 100), (20, 12.0, 130), (50, 11.0, 160),
            (65, 13.0, 200), (119, 9.0, 260),
            (185, 14.0, 20)]  # fmt: skip  # the last: a new day's volume
    base = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    return [
        update("AAPL", p, v, ts=(base + timedelta(seconds=s)).isoformat(), seq=i + 1)
        for i, (s, p, v) in enumerate(rows)
    ]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_recorded_ticks_become_bars_like_the_servers(tmp_path, suffix):
    path = tmp_path / f"ticks.{suffix}"
    with open_recorder(path) as rec:
        for u in ticks():
            rec.write(u)
            rec.write(update("MSFT", 400.0, 1, ts=u.timestamp, seq=u.seq))
    frame = history.recorded_bars(path, "aapl", "1m")
    assert frame.index.tolist() == [pd.Timestamp(f"2026-03-02T10:0{m}:00Z") for m in (0, 1, 3)]
    assert frame.to_dict("list") == {
        "open": [10.0, 13.0, 14.0],
        "high": [12.0, 13.0, 14.0],
        "low": [10.0, 9.0, 14.0],
        "close": [11.0, 9.0, 14.0],
        "volume": [60.0, 100.0, 20.0],  # the first tick's volume traded before it
    }
    assert frame.attrs == {"symbol": "AAPL", "interval": "1m"}
    five = history.recorded_bars(path, "AAPL", "5m", end="2026-03-02T10:00:00Z")
    assert five.to_dict("list") == {"open": [10.0], "high": [14.0], "low": [9.0],
                                    "close": [14.0], "volume": [180.0]}  # fmt: skip


def test_a_symbol_missing_from_the_recording_lists_those_it_holds(tmp_path):
    path = tmp_path / "t.csv"
    with open_recorder(path) as rec:
        for u in ticks():
            rec.write(u)
    with pytest.raises(ValueError, match=r"symbol: 'TSLA' is not in .*t.csv \(it holds AAPL\)"):
        history.recorded_bars(path, "TSLA")
    with pytest.raises(ValueError, match="interval: '7m'"):
        history.recorded_bars(path, "AAPL", "7m")
    with pytest.raises(FileNotFoundError):
        history.recorded_bars(tmp_path / "none.csv", "AAPL")


def test_resampling_a_frame_without_ticks_gives_no_bars():
    frame = resample_bars(pd.DataFrame({"timestamp": [], "price": []}), 60)
    assert frame.empty and frame.index.name == "start"
    with pytest.raises(ValueError, match="missing"):
        resample_bars(pd.DataFrame({"price": [1.0]}), 60)


def test_the_intervals_are_the_servers():
    from tickwire.assets.api import DEFAULT_SPAN, MAX_BARS
    from tickwire.assets.rollup import INTERVALS

    assert history.INTERVALS == INTERVALS
    assert history.DEFAULT_SPAN == DEFAULT_SPAN and history.MAX_PAGE == MAX_BARS
