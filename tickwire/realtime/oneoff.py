"""One-off price updates that stick: through the running price feed, else to the database.

A running feed holds its own quotes in memory and persists them in batches, so a direct
database write next to it is overwritten seconds later and never reaches subscribers.
:func:`deliver_quotes` therefore finds the running feed and hands it the quotes as an
``apply_quotes`` control message (:mod:`tickwire.stream.feeds.quote_requests`):

* Redis (``TICKWIRE_BROKER_URL=redis://...``): a feed runs when a feed heartbeat is fresh;
  the request goes out on the broker's control channel and the acknowledgement comes back
  on the request's reply channel.
* Embedded (``memory://``): the server's local control socket under ``TICKWIRE_HOME/run/``
  (:mod:`.control_socket`); a stale socket file (a killed server) counts as no server.
* No feed running: :data:`DIRECT` — the caller writes the database itself.

A feed that is running but does not acknowledge in time is :class:`FeedDidNotAnswer`: the
caller must not write directly then, since that write would race the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from tickwire.stream.brokers import BrokerUnavailable, Publication
from tickwire.stream.feeds import CONTROL_CHANNEL
from tickwire.stream.feeds.quote_requests import (
    ControlMessageError,
    QuotesAck,
    QuoteUpdate,
    apply_quotes_message,
    new_request_id,
    parse_ack,
    reply_channel,
)

from . import control_socket
from .cluster import create_cluster
from .publishers import broker_from_settings

__all__ = [
    "Delivery",
    "FeedDidNotAnswer",
    "FeedUnreachable",
    "deliver_quotes",
]

#: Seconds beyond the acknowledgement wait that the whole exchange with Redis may take.
_REDIS_GRACE = 15.0


class FeedDidNotAnswer(Exception):
    """A price feed is running but did not acknowledge the quotes in time (or answered
    with something else). The request expires halfway through the wait: a feed that gets
    it later refuses it unapplied (clocks of feed and sender agreeing)."""


class FeedUnreachable(Exception):
    """Whether a price feed runs cannot be told (the broker is down)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where the quotes went: ``ack`` is the feed's answer, None when no feed runs."""

    via: str
    ack: QuotesAck | None = None
    #: A note on how the route was chosen (a stale socket file, say).
    note: str | None = None

    @property
    def through_feed(self) -> bool:
        return self.ack is not None


def deliver_quotes(quotes: list[QuoteUpdate], timeout: float = 10.0) -> Delivery:
    """Hand ``quotes`` to the running price feed and wait (``timeout`` seconds at most)
    for its acknowledgement; or, when no feed runs, say so (``ack`` None) and send nothing.

    Raises FeedDidNotAnswer, FeedUnreachable, and ControlMessageError for quotes the feed
    would refuse (checked before anything is sent).
    """
    request_id = new_request_id()
    # A feed that gets the request late refuses it, so "nothing was written" stays true
    # when we give up; half the wait leaves the other half for applying and answering.
    body = apply_quotes_message(request_id, quotes, expires_at=time.time() + timeout / 2)
    url = settings.TICKWIRE_BROKER_URL
    if url.startswith("memory:"):
        return _through_socket(settings.TICKWIRE_HOME, request_id, body, timeout)
    return asyncio.run(_bounded(_through_redis(url, request_id, body, timeout), timeout))


async def _bounded(work: Coroutine[Any, Any, Delivery], timeout: float) -> Delivery:
    # Redis calls have no timeout of their own: a Redis that stops answering mid-way
    # (paused, say) must not hang the command.
    try:
        return await asyncio.wait_for(work, timeout + _REDIS_GRACE)
    except TimeoutError:
        raise FeedUnreachable(f"Redis did not answer within {timeout + _REDIS_GRACE:g}s") from None


def _read_ack(frame: bytes, request_id: str, where: str) -> QuotesAck:
    try:
        ack = parse_ack(frame)
    except ControlMessageError as exc:
        raise FeedDidNotAnswer(f"the price feed ({where}) answered {exc}") from None
    if ack.request_id != request_id:
        raise FeedDidNotAnswer(f"the price feed ({where}) answered another request")
    return ack


def _through_socket(home: Path, request_id: str, body: bytes, timeout: float) -> Delivery:
    path = control_socket.socket_path(home)
    try:
        reply = control_socket.send_frame(path, body + b"}", timeout)
    except control_socket.EndpointStale as exc:
        return Delivery("database", note=f"{exc} (a server that was killed)")
    except control_socket.NoEndpoint:
        return Delivery("database")
    except TimeoutError as exc:
        raise FeedDidNotAnswer(f"the embedded server's price feed did not answer: {exc}") from None
    except ConnectionError as exc:
        raise FeedDidNotAnswer(str(exc)) from None
    ack = _read_ack(reply, request_id, f"control socket {path}")
    return Delivery(f"embedded server pid {ack.feed.get('pid', '?')}", ack)


async def _running_feeds(broker: Any) -> list[dict[str, Any]]:
    cluster = create_cluster(
        settings.TICKWIRE_BROKER_URL,
        broker,
        heartbeat=settings.TICKWIRE_NODE_HEARTBEAT_SECONDS,
        node_timeout=settings.TICKWIRE_NODE_TIMEOUT_SECONDS,
    )
    now = time.time()
    fresh = settings.TICKWIRE_NODE_TIMEOUT_SECONDS
    return [
        f
        for f in await cluster.feeds()
        if f.get("running") and now - float(f.get("heartbeat_at") or 0) <= fresh
    ]


async def _through_redis(url: str, request_id: str, body: bytes, timeout: float) -> Delivery:
    broker = broker_from_settings(url)
    answers: asyncio.Queue[bytes] = asyncio.Queue()
    channel = reply_channel(request_id)

    def on_publication(pub: Publication) -> None:
        if pub.channel == channel:
            answers.put_nowait(pub.frame)

    where = f"feed process on {_redacted(url)}"
    try:
        try:
            await broker.start(on_publication)
            feeds = await _running_feeds(broker)
        except (BrokerUnavailable, ConnectionError, OSError) as exc:
            raise FeedUnreachable(
                f"cannot reach the broker {_redacted(url)} to find the running price feed: {exc}"
            ) from None
        if not feeds:
            return Delivery("database")
        try:
            # Subscribed before the request goes out, so the answer cannot be missed.
            await broker.subscribe(channel)
            await broker.publish(CONTROL_CHANNEL, body)
        except (BrokerUnavailable, ConnectionError, OSError) as exc:
            raise FeedUnreachable(f"the request could not be sent through Redis: {exc}") from None
        try:
            frame = await asyncio.wait_for(answers.get(), timeout)
        except TimeoutError:
            pids = ", ".join(str(f.get("pid", "?")) for f in feeds)
            raise FeedDidNotAnswer(
                f"the price feed (pid {pids}) on {_redacted(url)} did not acknowledge "
                f"in {timeout:g}s"
            ) from None
        return Delivery(where, _read_ack(frame, request_id, where))
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(broker.close(), 5.0)


def _redacted(url: str) -> str:
    """The broker URL without a password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"
