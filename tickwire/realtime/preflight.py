"""Start-up checks: what must hold before a server or a feed process starts.

A deployment mistake — PostgreSQL or Redis not reachable, migrations not applied, a data
source without its key — would otherwise surface as a traceback from deep inside the first
query or connection, or as a server that starts and serves nothing. Each check here raises
:class:`~tickwire.env.StartupError` with one line that names what to change; the entry
points (``tickwire serve``, ``tickwire feed``, ``tickwire manage``, the ASGI module) print it
and exit with status 2.

The checks run once per process, in a thread of their own: the ASGI module is imported by
uvicorn inside its running event loop, where Django refuses synchronous queries.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.db.migrations.executor import MigrationExecutor

from tickwire.assets.models import Asset
from tickwire.env import StartupError
from tickwire.stream.brokers import BrokerUnavailable, Publication
from tickwire.stream.feeds import Instrument, SourceConfigError
from tickwire.stream.feeds.registry import OPTIONS, env_name

from .publishers import broker_from_settings
from .runtime import build_feed_source
from .services import instruments_from_assets

__all__ = [
    "NO_INSTRUMENTS",
    "check_broker",
    "check_database",
    "check_feed",
    "check_feed_source",
    "check_server",
    "database_error",
    "feed_error",
    "redacted_url",
    "source_error",
]

log = logging.getLogger("tickwire.realtime")

T = TypeVar("T")

#: Broker probe bound: a host that drops packets must not hang the start.
BROKER_TIMEOUT = 15.0

NO_INSTRUMENTS = (
    "no active assets with a price to feed: load the demo set with "
    "`tickwire manage load_demo_data`, or add assets in the admin, then start again"
)

_passed = False


def redacted_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def database_error(exc: BaseException) -> str:
    """One line saying what to do about a database error met at start."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    table = re.search(r"no such table: (\w+)|relation \"(\w+)\" does not exist", text)
    if table:
        name = table.group(1) or table.group(2)
        return f"the database has no table {name}: run `tickwire manage migrate`"
    url = redacted_url(settings.DATABASE_URL)
    return f"cannot use the database at DATABASE_URL={url}: {text} (is it running? right URL?)"


def check_database() -> None:
    """The database answers and every migration is applied.

    Raises StartupError naming DATABASE_URL, or saying to run ``tickwire manage migrate``.
    """
    try:
        connection.ensure_connection()
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        raise StartupError(database_error(exc)) from None
    if plan:
        raise StartupError(
            f"the database is not migrated ({len(plan)} migrations to apply): "
            "run `tickwire manage migrate`"
        )


def load_instruments(symbols: list[str] | None = None) -> list[Instrument]:
    """The active assets with a price, as the feed would load them."""
    assets = Asset.objects.filter(is_active=True).order_by("symbol")
    if symbols:
        assets = assets.filter(symbol__in=symbols)
    return instruments_from_assets(list(assets))


def check_feed_source(
    name: str, instruments: list[Instrument], options: Mapping[str, Any] | None = None
) -> None:
    """The data source ``name`` can be built from the settings (its URL, key, file...).

    Raises StartupError with the source's own message and the variable to set.
    """
    try:
        build_feed_source(instruments, source=name, options=options)
    except SourceConfigError as exc:
        raise StartupError(
            f"data source {name} (TICKWIRE_FEED_SOURCE): {source_error(exc)}"
        ) from None


def check_feed(instruments: list[Instrument]) -> None:
    """The feed's source(s) as configured — ``TICKWIRE_FEED_SOURCES`` when set, else
    ``TICKWIRE_FEED_SOURCE`` — can be built for ``instruments`` (every active asset).

    Raises StartupError naming the entry and field, or the option and its variable.
    """
    if settings.TICKWIRE_FEED_SOURCES is None:
        check_feed_source(settings.TICKWIRE_FEED_SOURCE, instruments)
        return
    try:
        build_feed_source(instruments)
    except SourceConfigError as exc:
        raise StartupError(str(exc)) from None


def feed_error(source: str | None, exc: ValueError) -> str:
    """One line for a source error of a feed whose ``--source`` is ``source`` (None: the
    settings')."""
    if source is None and settings.TICKWIRE_FEED_SOURCES is not None:
        return str(exc)
    return f"data source {source or settings.TICKWIRE_FEED_SOURCE}: {source_error(exc)}"


def source_error(exc: ValueError) -> str:
    """The source's message, plus the variable of an option it names as ``(option)``."""
    text = str(exc)
    named = re.search(r"\((\w+)\)", text)
    if named and named.group(1) in OPTIONS and env_name(named.group(1)) not in text:
        text += f": set {env_name(named.group(1))}"
    return text


def check_broker(url: str | None = None) -> None:
    """The broker (``TICKWIRE_BROKER_URL``) is reachable; nothing to check for memory://.

    Raises StartupError naming TICKWIRE_BROKER_URL.
    """
    url = url or settings.TICKWIRE_BROKER_URL
    if url.startswith("memory:"):
        return

    def ignore(_: Publication) -> None:
        return None

    async def probe() -> None:
        broker = broker_from_settings(url)
        try:
            await asyncio.wait_for(broker.start(ignore), BROKER_TIMEOUT)
        finally:
            await broker.close()

    try:
        asyncio.run(probe())
    except (BrokerUnavailable, OSError, TimeoutError) as exc:
        detail = str(exc).rstrip(".") or f"Redis at {redacted_url(url)}: no answer"
        raise StartupError(f"{detail} (TICKWIRE_BROKER_URL: is Redis running there?)") from None


def check_server() -> None:
    """Everything a server process needs, checked once per process (later calls return).

    The database and its migrations, the broker, and — when this process runs the price
    feed — the data source. A feed with no instruments is allowed (assets can be added in
    the admin) but logged, since it publishes nothing and health reports it as not running.

    Raises StartupError.
    """
    global _passed
    if _passed:
        return
    _in_own_thread(_check_server)
    _passed = True


def _check_server() -> None:
    check_database()
    if settings.TICKWIRE_FEED_IN_PROCESS:
        instruments = load_instruments()
        check_feed(instruments)
        if not instruments:
            log.warning("%s", NO_INSTRUMENTS)
    check_broker()


def _in_own_thread(check: Callable[[], T]) -> T:
    def run() -> T:
        try:
            return check()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1, thread_name_prefix="tickwire-preflight") as pool:
        return pool.submit(run).result()
