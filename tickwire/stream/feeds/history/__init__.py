"""Providers' historical bars over HTTP, page by page (``Source.history_pages``).

``client`` holds what every provider shares: requests that wait out rate limits, bars
made from provider rows, time windows. One module per provider knows its endpoint, its
paging and its limits; the sources' ``history_pages`` delegate to them.
"""

from .binance import BINANCE_REST_URL, BinanceHistory
from .client import HistoryError, RestClient, parse_retry_after
from .coinbase import COINBASE_REST_URL, CoinbaseHistory
from .finnhub import FINNHUB_REST_URL, FinnhubHistory
from .generic import DEFAULT_HISTORY_FIELDS, HttpHistory

__all__ = [
    "BINANCE_REST_URL",
    "COINBASE_REST_URL",
    "DEFAULT_HISTORY_FIELDS",
    "FINNHUB_REST_URL",
    "BinanceHistory",
    "CoinbaseHistory",
    "FinnhubHistory",
    "HistoryError",
    "HttpHistory",
    "RestClient",
    "parse_retry_after",
]
