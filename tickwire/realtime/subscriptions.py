"""What a connection may subscribe to, and the subscribing itself.

The rules the consumer applies to ``subscribe_*``/``unsubscribe_*`` requests:
``MAX_SUBSCRIPTIONS_PER_CONNECTION`` (portfolios included), known symbols only, portfolios
for their owner only (and one answer for someone else's and a missing one, so ids do not
leak), and what a new subscriber is sent first — the missed updates when it resumes, else
the channel's snapshot, else (nothing published yet) the asset's row in the database.

A subscription is granted as an async context: the channels are subscribed (holding live
updates) when the block starts, the consumer replies inside it, and the snapshot and
held updates follow when it ends, so the reply always comes first. A refusal raises
:class:`~tickwire.stream.protocol.ProtocolError` with its code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from django.conf import settings

from tickwire.portfolios.demand import NodeDemand
from tickwire.portfolios.services import owns_portfolio
from tickwire.stream import builders
from tickwire.stream.channels import asset_channel, channel_symbol, portfolio_channel
from tickwire.stream.hub import Outbox
from tickwire.stream.node import Node, SubscribeResult
from tickwire.stream.protocol import ErrorCode, ProtocolError, SubscribeAssets

from .services import AssetSnapshots, SymbolDirectory

__all__ = ["AssetGrant", "Subscriptions"]


@dataclass(frozen=True, slots=True)
class AssetGrant:
    """The symbols of a ``subscribe_asset`` request that were subscribed, with where each
    stream stands (seq, epoch, and whether a resume recovered every missed update)."""

    symbols: list[str]
    results: list[SubscribeResult]


class Subscriptions:
    """Subscription rules for every connection of this process (one per runtime)."""

    def __init__(
        self, node: Node, demand: NodeDemand, symbols: SymbolDirectory | None = None
    ) -> None:
        self.node = node
        self.demand = demand
        self.symbols = symbols or SymbolDirectory()
        self.snapshots = AssetSnapshots()

    # -- assets ---------------------------------------------------------------------------

    @asynccontextmanager
    async def assets(self, outbox: Outbox, request: SubscribeAssets) -> AsyncIterator[AssetGrant]:
        """Subscribe ``outbox`` to the request's known symbols for the duration of the block.

        Raises SUBSCRIPTION_LIMIT (subscribing nothing) before the block; UNKNOWN_SYMBOL
        after it, for the unknown symbols of a request whose known ones were subscribed. A
        symbol already subscribed without ``since`` is answered with a fresh snapshot.
        """
        node = self.node
        new = [s for s in request.symbols if asset_channel(s) not in outbox.channels]
        limit = settings.MAX_SUBSCRIPTIONS_PER_CONNECTION
        count = len(outbox.channels)
        if count + len(new) > limit:
            raise ProtocolError(
                ErrorCode.SUBSCRIPTION_LIMIT,
                f"at most {limit} subscriptions per connection (MAX_SUBSCRIPTIONS_PER_"
                f"CONNECTION); this connection has {count} and asked for {len(new)} more",
            )
        unknown = await self.symbols.unknown(request.symbols)
        symbols = [s for s in request.symbols if s not in unknown]
        results: list[SubscribeResult] = []
        try:
            for symbol in symbols:
                channel = asset_channel(symbol)
                since = request.since.get(symbol)
                if channel in outbox.channels and since is None:
                    # Already subscribed: answer with a fresh snapshot, subscribe nothing.
                    node.unsubscribe(outbox, channel)
                results.append(
                    await node.subscribe(
                        outbox, channel, since=since, epoch=request.epoch_of(symbol)
                    )
                )
            yield AssetGrant(symbols, results)
            for result in results:
                await self._first_frames(outbox, result)
        finally:
            for result in results:
                node.activate(outbox, result)
        if unknown:
            raise ProtocolError(
                ErrorCode.UNKNOWN_SYMBOL,
                f"unknown symbol{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
            )

    async def _first_frames(self, outbox: Outbox, result: SubscribeResult) -> None:
        if result.recovered:
            # Every missed update, in order: never conflated.
            for frame in result.frames:
                outbox.push(frame)
            return
        frames = result.frames
        if not frames:
            # Nothing published on the channel yet: the price the database holds.
            symbol = channel_symbol(result.channel)
            snap = await self.snapshots.frame(symbol) if symbol else None
            frames = [snap] if snap else []
        for frame in frames:
            outbox.push(frame, result.channel)

    def unsubscribe_assets(self, outbox: Outbox, symbols: Sequence[str]) -> None:
        for symbol in symbols:
            self.node.unsubscribe(outbox, asset_channel(symbol))

    # -- portfolios -----------------------------------------------------------------------

    @asynccontextmanager
    async def portfolio(
        self, outbox: Outbox, user_id: int | None, portfolio_id: int
    ) -> AsyncIterator[SubscribeResult]:
        """Subscribe ``outbox`` to the portfolio's updates for the duration of the block;
        the cluster's valuer is asked for its current value (``NodeDemand.watch``) and
        publishes it on the channel, so it arrives after anything pushed in the block.

        Raises AUTHENTICATION_REQUIRED, PORTFOLIO_NOT_FOUND (someone else's, or none) and
        SUBSCRIPTION_LIMIT before the block. A failure inside it undoes the subscription.
        """
        user_id = self._authenticated(user_id)
        channel = portfolio_channel(portfolio_id)
        subscribed = channel in outbox.channels
        if not await owns_portfolio(portfolio_id, user_id):
            raise _not_found(portfolio_id)
        limit = settings.MAX_SUBSCRIPTIONS_PER_CONNECTION
        count = len(outbox.channels)
        if not subscribed and count + 1 > limit:
            raise ProtocolError(
                ErrorCode.SUBSCRIPTION_LIMIT,
                f"at most {limit} subscriptions per connection (MAX_SUBSCRIPTIONS_PER_"
                f"CONNECTION), portfolios included; this connection has {count}",
            )
        node = self.node
        if subscribed:
            # Already subscribed: answer again with a fresh snapshot.
            node.unsubscribe(outbox, channel)
        result = await node.subscribe(outbox, channel)
        try:
            # Again, now that the subscription exists: a change of owner committed since
            # the first check announced itself before there was anything to end.
            if not await owns_portfolio(portfolio_id, user_id):
                raise _not_found(portfolio_id)
            await self.demand.watch(portfolio_id)
            yield result
        except BaseException:
            node.unsubscribe(outbox, channel)
            raise
        finally:
            node.activate(outbox, result)

    async def unsubscribe_portfolio(
        self, outbox: Outbox, user_id: int | None, portfolio_id: int
    ) -> None:
        """Raises AUTHENTICATION_REQUIRED, or PORTFOLIO_NOT_FOUND for a portfolio this
        connection is not subscribed to and the user does not own."""
        user_id = self._authenticated(user_id)
        channel = portfolio_channel(portfolio_id)
        if channel not in outbox.channels and not await owns_portfolio(portfolio_id, user_id):
            raise _not_found(portfolio_id)
        self.node.unsubscribe(outbox, channel)
        self.demand.release(portfolio_id)

    def revoke_portfolio(self, outbox: Outbox, portfolio_id: int) -> None:
        """End ``outbox``'s subscription to a portfolio its user no longer owns (given to
        another owner), telling the client with ``portfolio_not_found``."""
        channel = portfolio_channel(portfolio_id)
        if channel not in outbox.channels:
            return
        self.node.unsubscribe(outbox, channel)
        self.demand.release(portfolio_id)
        outbox.push(builders.portfolio_revoked(portfolio_id))

    @staticmethod
    def _authenticated(user_id: int | None) -> int:
        if user_id is None:
            raise ProtocolError(
                ErrorCode.AUTHENTICATION_REQUIRED,
                "portfolio subscriptions need an authenticated connection: log in, send an "
                "'Authorization: Token <key>' header, or send 'authenticate' with a token",
            )
        return user_id


def _not_found(portfolio_id: int) -> ProtocolError:
    # One answer for someone else's portfolio and for a missing one: ids do not leak.
    return ProtocolError(ErrorCode.PORTFOLIO_NOT_FOUND, f"portfolio {portfolio_id} not found")
