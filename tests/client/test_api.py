"""The client library's public surface is small and pinned."""

import random

import pytest

import tickwire.client as client
from tickwire.client import Backoff


def test_public_api_is_pinned():
    assert client.__all__ == [
        "APIError", "AlertEvent", "AlertFired", "AlertsAPI", "AssetUpdate",
        "AuthenticationError", "Backoff",
        "BlockingClient", "Client", "ConnectionFailed", "ConnectionStatus", "Crossing",
        "CsvRecorder", "Event", "Gap", "ParquetRecorder", "PortfolioUpdate", "RawFeed",
        "Recorder", "RequestError", "Resync", "RollingStats", "RollingWindow", "ServerClosed",
        "ServerError", "ServerMessage", "StreamPosition", "Threshold", "TickwireError",
        "WindowStats", "open_recorder",
    ]  # fmt: skip
    for name in client.__all__:
        assert getattr(client, name) is not None


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap():
    b = Backoff(initial=0.5, maximum=8, factor=2, jitter=0.5)
    rng = random.Random(1)
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)]:
        delays = [b.delay(attempt, rng) for _ in range(200)]
        assert all(base * 0.5 <= d <= base for d in delays)
        assert max(delays) - min(delays) > base * 0.3  # jitter spreads reconnects


def test_backoff_attempt_limit():
    assert not Backoff(max_attempts=None).exhausted(10**6)
    b = Backoff(max_attempts=2)
    assert not b.exhausted(2) and b.exhausted(3)


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": 0}, {"initial": 5, "maximum": 1}, {"factor": 0.5}, {"jitter": 2},
     {"max_attempts": -1}],
)  # fmt: skip
def test_bad_backoff_is_refused(kwargs):
    with pytest.raises(ValueError):
        Backoff(**kwargs)


@pytest.mark.parametrize("url", ["http://x/ws/", "localhost:8000", "ws://"])
def test_bad_urls_are_refused(url):
    with pytest.raises(ValueError, match="WebSocket URL"):
        client.Client(url)
