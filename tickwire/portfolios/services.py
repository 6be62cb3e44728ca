"""Portfolio services: ownership, holdings for valuation, live prices, change events.

Live prices: a running server binds a :class:`PriceSource` (:func:`bind_price_source`), so
the REST API values portfolios at the prices its WebSocket subscribers see; elsewhere
(a command, a shell) stored prices are used.

Change events: every save or delete of a portfolio or position (through the API, the
admin or any other code) calls :func:`portfolio_changed`, which publishes one
``control.portfolio.<id>`` message per portfolio *after the transaction commits* — a
rolled-back edit publishes nothing, and a valuer that reloads on the message always reads
the committed rows. The same message also goes on ``control.valuation``, the one channel
the cluster's valuer listens to.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from asgiref.sync import sync_to_async
from django.db import transaction

from tickwire.assets.models import Asset
from tickwire.stream import control

from .demand import VALUATION_CHANNEL
from .models import Portfolio, Position
from .valuation import (
    FxPair,
    Holding,
    Price,
    Valuation,
    parse_fx_symbol,
    value_portfolio,
)

__all__ = [
    "Book",
    "PriceSource",
    "bind_price_source",
    "fx_pairs",
    "live_prices",
    "load_book",
    "load_book_async",
    "load_books",
    "load_books_async",
    "owns_portfolio",
    "portfolio_changed",
    "valuate",
]


@dataclass(frozen=True, slots=True)
class Book:
    """What a valuer needs of one portfolio, read in one go from the database."""

    portfolio_id: int
    owner_id: int
    name: str
    currency: str
    holdings: tuple[Holding, ...]
    pairs: tuple[FxPair, ...]
    #: Prices as last persisted, for assets that have no live publication yet.
    stored_prices: dict[str, Price] = field(default_factory=dict)


def _stored_price(asset: Asset) -> Price | None:
    if asset.current_price is None:
        return None
    previous = asset.previous_close if asset.previous_close is not None else asset.current_price
    return Price(asset.current_price, previous)


def fx_pairs() -> tuple[list[FxPair], dict[str, Price]]:
    """Every active FX asset as a pair, with its stored price."""
    pairs: list[FxPair] = []
    prices: dict[str, Price] = {}
    for asset in Asset.objects.filter(kind=Asset.Kind.FX, is_active=True):
        pair = parse_fx_symbol(asset.symbol, asset.currency)
        if pair is None:
            continue
        pairs.append(pair)
        stored = _stored_price(asset)
        if stored is not None:
            prices[asset.symbol] = stored
    return pairs, prices


def load_book(portfolio_id: int) -> Book | None:
    """The portfolio's holdings, FX pairs and stored prices; None if it does not exist."""
    return load_books([portfolio_id]).get(portfolio_id)


def load_books(portfolio_ids: Iterable[int]) -> dict[int, Book]:
    """The books of the portfolios that exist among ``portfolio_ids``, in three queries
    whatever their number (the valuer loads a node's whole lease at once)."""
    ids = sorted(set(portfolio_ids))
    if not ids:
        return {}
    pairs, fx_prices = fx_pairs()
    holdings: dict[int, list[Holding]] = {pid: [] for pid in ids}
    prices: dict[int, dict[str, Price]] = {pid: dict(fx_prices) for pid in ids}
    positions = (
        Position.objects.filter(portfolio_id__in=ids)
        .select_related("asset")
        .order_by("portfolio_id", "asset__symbol")
    )
    for p in positions:
        asset = p.asset
        holdings[p.portfolio_id].append(
            Holding(asset.symbol, p.quantity, p.average_cost, asset.currency)
        )
        stored = _stored_price(asset)
        if stored is not None:
            prices[p.portfolio_id][asset.symbol] = stored
    return {
        portfolio.pk: Book(
            portfolio.pk,
            portfolio.owner_id,
            portfolio.name,
            portfolio.currency,
            tuple(holdings[portfolio.pk]),
            tuple(pairs),
            prices[portfolio.pk],
        )
        for portfolio in Portfolio.objects.filter(pk__in=ids)
    }


load_book_async = sync_to_async(load_book)
load_books_async = sync_to_async(load_books)


def _owns(portfolio_id: int, user_id: int) -> bool:
    return Portfolio.objects.filter(pk=portfolio_id, owner_id=user_id).exists()


async def owns_portfolio(portfolio_id: int, user_id: int) -> bool:
    """True if ``user_id`` owns the portfolio (False for someone else's and for none)."""
    return await sync_to_async(_owns)(portfolio_id, user_id)


class PriceSource(Protocol):
    """The live price of a symbol, or None; called from any thread."""

    def __call__(self, symbol: str) -> Price | None: ...


_price_sources: list[PriceSource] = []


def bind_price_source(source: PriceSource) -> Callable[[], None]:
    """Read live prices from ``source`` until the returned function is called (the one
    bound last is read; unbinding it restores the one before)."""
    _price_sources.append(source)

    def unbind() -> None:
        with contextlib.suppress(ValueError):
            _price_sources.remove(source)

    return unbind


def live_prices(symbols: Iterable[str]) -> dict[str, Price]:
    """The freshest prices this process knows: live ones from the running server (its
    in-process feed's quotes, or the broker's latest ``asset_update``); the caller falls
    back to stored prices for the rest."""
    out: dict[str, Price] = {}
    try:
        source = _price_sources[-1]
    except IndexError:  # no server runs in this process
        return out
    for symbol in symbols:
        price = source(symbol)
        if price is not None:
            out[symbol] = price
    return out


def valuate(book: Book) -> Valuation:
    """Value a book at live prices where known, stored prices otherwise."""
    prices = dict(book.stored_prices)
    prices.update(live_prices(prices))
    return value_portfolio(book.currency, book.holdings, prices, book.pairs)


# -- change events ---------------------------------------------------------------------------

_pending = threading.local()


def portfolio_changed(portfolio_id: int) -> None:
    """Tell the valuer (and the alert evaluator), after this transaction commits, to
    reload the portfolio.

    Several changes to one portfolio in one transaction (an admin page saving five inline
    positions) publish one message. Outside a transaction it publishes at once.
    """
    ids: set[int] | None = getattr(_pending, "ids", None)
    if ids is None:
        ids = _pending.ids = set()
    ids.add(portfolio_id)
    transaction.on_commit(_flush)


def portfolio_owner_changed(portfolio_id: int, previous_owner_id: int) -> None:
    """Tell every node, after this transaction commits, that ``previous_owner_id`` no
    longer owns the portfolio: their open subscriptions to it end (the ownership check
    ran when they subscribed)."""
    data = {
        "user_id": previous_owner_id,
        "event": control.PORTFOLIO_REVOKED,
        "portfolio_id": portfolio_id,
    }
    transaction.on_commit(
        lambda: control.publish(
            control.user_control_channel(previous_owner_id), control.USER_CONTROL, data
        )
    )


def _flush() -> None:
    ids: set[int] | None = getattr(_pending, "ids", None)
    if not ids:
        return  # an earlier callback of the same commit already published them
    _pending.ids = set()
    for portfolio_id in sorted(ids):
        data = {"portfolio_id": portfolio_id, "event": control.PORTFOLIO_CHANGED}
        # The portfolio's own channel for whoever follows that one portfolio (the alert
        # evaluator), and the valuer's one channel, so it needs no subscription per portfolio.
        control.publish(
            control.portfolio_control_channel(portfolio_id), control.PORTFOLIO_CONTROL, data
        )
        control.publish(VALUATION_CHANNEL, control.PORTFOLIO_CONTROL, data)
