"""Several sources as one: each asset's ticks come from its one active source.

:class:`RoutedSource` runs every member source (a primary over its assets; a backup over
its own assets *and* the ones it stands by for, so a failover needs no new subscription),
merges their tick streams, and lets through only ticks from each asset's active source.

Failover, checked on a timer (``check_interval``) and on every batch:

* to the backup when the primary is *down* — its ``status()`` says not connected, or its
  ``ticks()`` task ended — and the backup is up (a primary still making its first
  connection gets ``startup_grace`` seconds); or when the primary has sent no tick of
  the asset for ``stale_after`` seconds while the backup has sent one within that time;
* back to the primary once it has been healthy for the asset (up, and fresh when
  ``stale_after`` is set) for ``recover_after`` seconds — or at once if the backup is down
  and the primary up.

A tick older than the last one let through for its asset is dropped (prices never go back
in time, across a switch too), and so is one at the same time from another source (no
duplicate at a switch). Ticks without a time get the time they arrived.

What it does not do: it does not restart a member whose ``ticks()`` ended (sources
reconnect by themselves; an ended one is a finished replay or a bug, logged), and it does
not fail over an asset that has no backup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from .base import Bar, HistoryUnavailable, Source, Tick

__all__ = ["AssetRoute", "Member", "RoutedSource"]

log = logging.getLogger("tickwire.feed")


@dataclass(slots=True)
class Member:
    """One configured source in a routed feed."""

    name: str
    source: Source
    stale_after: float | None = None
    recover_after: float = 30.0
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    #: Monotonic time since which the member is up (None while down).
    up_since: float | None = None
    #: Monotonic time of the last tick per symbol (whether or not it was let through).
    last_tick: dict[str, float] = field(default_factory=dict)
    ended: str | None = None
    #: Whether it was ever up since the start (a source still connecting is not down yet).
    was_up: bool = False

    def is_up(self) -> bool:
        if self.ended is not None:
            return False
        if self.task is not None and self.task.done():
            return False
        return bool(self.source.status().get("connected", True))


@dataclass(slots=True)
class AssetRoute:
    """Which source serves one asset, and how it got there."""

    symbol: str
    primary: str
    backup: str | None
    active: str
    #: Wall-clock time the active source took over.
    since: float
    switches: int = 0
    reason: str | None = None
    #: Time of the last tick let through, and from which source.
    last_ts: float = 0.0
    last_from: str | None = None
    #: Monotonic time since which the primary is healthy again (while the backup serves).
    primary_ok_since: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "active": self.active,
            "primary": self.primary,
            "backup": self.backup,
            "since": self.since,
            "switches": self.switches,
            "last_switch_reason": self.reason,
        }


class RoutedSource(Source):
    """Many sources, one stream; see the module docstring for the failover rules."""

    name = "routed"

    def __init__(
        self,
        members: Sequence[Member],
        *,
        primary: Mapping[str, str],
        backup: Mapping[str, str] | None = None,
        unrouted: Sequence[str] = (),
        check_interval: float = 1.0,
        startup_grace: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.members = {m.name: m for m in members}
        backup = backup or {}
        now = time.time()
        self.routes = {
            symbol: AssetRoute(symbol, name, backup.get(symbol), name, now)
            for symbol, name in primary.items()
        }
        for symbol, route in self.routes.items():
            for name in (route.primary, route.backup):
                if name is not None and name not in self.members:
                    raise ValueError(f"{symbol}: route {name!r} is not a member")
        self.unrouted = list(unrouted)
        self.check_interval = check_interval
        #: How long a member may take to connect at the start before it counts as down.
        self.startup_grace = startup_grace
        self.clock = clock
        self.started_at = clock()
        #: Ticks dropped because their source was not the asset's active one.
        self.standby_ticks = 0
        #: Ticks dropped because they were older than the last one let through.
        self.out_of_order = 0
        #: Switches per primary route name: to its backup, and back.
        self.failovers: dict[str, int] = {m.name: 0 for m in members}
        self.recoveries: dict[str, int] = {m.name: 0 for m in members}

    # -- the pure part: which ticks pass, and when to switch -------------------------------

    def admit(self, member: str, ticks: Sequence[Tick]) -> list[Tick]:
        """The ticks from ``member`` to let through; records what it saw for the checks."""
        now = self.clock()
        seen = self.members[member].last_tick
        out: list[Tick] = []
        for tick in ticks:
            seen[tick.symbol] = now
            route = self.routes.get(tick.symbol)
            if route is None or route.active != member:
                self.standby_ticks += 1
                continue
            if not tick.ts:
                tick = replace(tick, ts=time.time())
            if tick.ts < route.last_ts or (tick.ts == route.last_ts and route.last_from != member):
                self.out_of_order += 1
                continue
            route.last_ts = tick.ts
            route.last_from = member
            out.append(tick)
        return out

    def adopt(self, ticks: Sequence[Tick]) -> None:
        """One-off quotes the feed published: they count as the asset's latest tick (so a
        provider's older tick is still refused after them), and the sources carrying the
        asset are told, so a simulated one walks on from them."""
        by_member: dict[str, list[Tick]] = {}
        for tick in ticks:
            route = self.routes.get(tick.symbol)
            if route is None:
                continue
            if tick.ts and tick.ts > route.last_ts:
                route.last_ts = tick.ts
                route.last_from = ""
            for name in {route.primary, route.backup, route.active} - {None}:
                by_member.setdefault(str(name), []).append(tick)
        for name, adopted in by_member.items():
            self.members[name].source.adopt(adopted)

    def check(self) -> None:
        """Update each member's up state and switch assets whose rule says so."""
        now = self.clock()
        up: dict[str, bool] = {}
        for member in self.members.values():
            is_up = up[member.name] = member.is_up()
            if is_up and member.up_since is None:
                member.up_since = now
                member.was_up = True
                log.info("feed source %s is up", member.name)
            elif not is_up and member.up_since is not None:
                member.up_since = None
                log.warning("feed source %s is down", member.name)
        moves: dict[tuple[str, str, str], list[str]] = {}
        for route in self.routes.values():
            if route.backup is None:
                continue
            reason = self._decide(route, up, now)
            if reason is not None:
                target = route.backup if route.active == route.primary else route.primary
                moves.setdefault((route.active, target, reason), []).append(route.symbol)
                self._switch(route, target, reason)
        for (old, new, reason), symbols in moves.items():
            log.warning(
                "feed route switch %s -> %s for %d assets (%s): %s",
                old,
                new,
                len(symbols),
                reason,
                ", ".join(symbols),
            )

    @staticmethod
    def _fresh(member: Member, symbol: str, now: float, window: float | None) -> bool:
        """Whether ``member`` sent a tick of ``symbol`` within ``window`` (None: any time
        counts as fresh, since silence is then not watched)."""
        if window is None:
            return True
        last = member.last_tick.get(symbol)
        return last is not None and now - last <= window

    def _decide(self, route: AssetRoute, up: Mapping[str, bool], now: float) -> str | None:
        assert route.backup is not None
        primary, backup = self.members[route.primary], self.members[route.backup]
        if route.active == route.primary:
            if not up[backup.name]:
                return None
            if not up[primary.name]:
                starting = not primary.was_up and now - self.started_at < self.startup_grace
                if starting and primary.ended is None:
                    return None
                why = primary.ended or "not connected"
                return f"{primary.name} down: {why}"
            stale = primary.stale_after
            if stale is not None:
                last = primary.last_tick.get(route.symbol, self.started_at)
                last = max(last, primary.up_since or last)
                quiet = now - last
                if quiet > stale and self._fresh(backup, route.symbol, now, stale):
                    # Staleness is measured against the primary's own time: a primary
                    # that just came up gets stale_after to send something.
                    return f"{primary.name} silent for {route.symbol} for {quiet:.1f}s"
            return None
        healthy = up[primary.name] and self._fresh(primary, route.symbol, now, primary.stale_after)
        if not healthy:
            route.primary_ok_since = None
            return None
        if route.primary_ok_since is None:
            route.primary_ok_since = now
        if not up[backup.name]:
            return f"{backup.name} down and {primary.name} up"
        held = now - route.primary_ok_since
        if held >= primary.recover_after:
            return f"{primary.name} healthy again for {held:.1f}s"
        return None

    def _switch(self, route: AssetRoute, target: str, reason: str) -> None:
        if target == route.backup:
            self.failovers[route.primary] += 1
        else:
            self.recoveries[route.primary] += 1
        route.active = target
        route.since = time.time()
        route.switches += 1
        route.reason = reason
        route.primary_ok_since = None

    # -- running ---------------------------------------------------------------------------

    async def ticks(self) -> AsyncIterator[list[Tick]]:
        queue: asyncio.Queue[tuple[str, Sequence[Tick]] | None] = asyncio.Queue(maxsize=1000)
        tasks: list[asyncio.Task[None]] = []

        async def pump(member: Member) -> None:
            try:
                async for batch in member.source.ticks():
                    await queue.put((member.name, batch))
                member.ended = "its ticks ended"
                log.warning("feed source %s: its ticks ended", member.name)
            except Exception as exc:
                member.ended = f"its ticks failed: {exc!r}"
                log.exception("feed source %s failed", member.name)
            # Wakes the merge loop to switch away now, or to end once every source has.
            await queue.put(None)

        async def timer() -> None:
            while True:
                await asyncio.sleep(self.check_interval)
                self.check()

        self.started_at = self.clock()
        for member in self.members.values():
            member.ended = None
            member.up_since = None
            member.was_up = False
            member.task = asyncio.ensure_future(pump(member))
            tasks.append(member.task)
        tasks.append(asyncio.ensure_future(timer()))
        try:
            while True:
                item = await queue.get()
                if item is None:
                    self.check()
                    if all(m.ended is not None for m in self.members.values()):
                        return
                    continue
                name, batch = item
                # Admitted as the routes stood when it was queued: a source's last ticks
                # before it ended still count.
                passed = self.admit(name, batch)
                self.check()
                if passed:
                    yield passed
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # -- asking for data -------------------------------------------------------------------

    def _by_member(self, symbols: Sequence[str], which: str) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for symbol in dict.fromkeys(symbols):
            route = self.routes.get(symbol)
            if route is not None:
                name = route.active if which == "active" else route.primary
                groups.setdefault(name, []).append(symbol)
        return groups

    async def refresh(self, symbols: Sequence[str]) -> list[Tick]:
        """Each symbol's active source refreshes it; what comes back obeys the same order."""
        groups = self._by_member(symbols, "active")
        names = list(groups)
        results = await asyncio.gather(
            *(self.members[n].source.refresh(groups[n]) for n in names), return_exceptions=True
        )
        out: list[Tick] = []
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("forced refresh from %s failed: %r", name, result)
                continue
            out.extend(self.admit(name, result))
        return out

    async def fetch(self, symbols: Sequence[str], timeout: float = 15.0) -> dict[str, Tick]:
        """One quote per symbol from its active source; the symbols it did not quote in
        ``timeout`` are then asked of their backup (so this takes up to twice ``timeout``)."""
        got = await self._fetch_groups(self._by_member(symbols, "active"), timeout)
        retry: dict[str, list[str]] = {}
        for symbol in symbols:
            route = self.routes.get(symbol)
            if symbol in got or route is None or route.backup is None:
                continue
            other = route.backup if route.active == route.primary else route.primary
            retry.setdefault(other, []).append(symbol)
        if retry:
            got.update(await self._fetch_groups(retry, timeout))
        return got

    async def _fetch_groups(
        self, groups: Mapping[str, list[str]], timeout: float
    ) -> dict[str, Tick]:
        names = list(groups)
        results = await asyncio.gather(
            *(self.members[n].source.fetch(groups[n], timeout) for n in names),
            return_exceptions=True,
        )
        got: dict[str, Tick] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("fetching quotes from %s failed: %r", name, result)
                continue
            got.update(result)
        return got

    async def history(self, symbols: Sequence[str], days: int) -> list[Bar]:
        """Daily bars from each symbol's primary, or its backup where the primary has none.

        Raises HistoryUnavailable only if no configured source had history for any symbol.
        """
        bars: list[Bar] = []
        had = False
        reasons: list[str] = []
        for name, group in self._by_member(symbols, "primary").items():
            candidates = [name, *{r for s in group if (r := self.routes[s].backup)}]
            for candidate in candidates:
                try:
                    bars.extend(await self.members[candidate].source.history(group, days))
                except HistoryUnavailable as exc:
                    reasons.append(str(exc))
                    continue
                had = True
                break
        if not had:
            raise HistoryUnavailable("; ".join(reasons) or "no configured source serves these")
        return bars

    async def history_pages(
        self, symbol: str, interval: int, start: int, end: int
    ) -> AsyncIterator[list[Bar]]:
        """Pages from the source configured for ``symbol`` (its primary; its backup when the
        primary raises HistoryUnavailable before its first page)."""
        route = self.routes.get(symbol)
        if route is None:
            raise HistoryUnavailable(f"no configured source serves {symbol}")
        names = [route.primary] + ([route.backup] if route.backup else [])
        for i, name in enumerate(names):
            pages = self.members[name].source.history_pages(symbol, interval, start, end)
            first = True
            try:
                async for page in pages:
                    first = False
                    yield page
                return
            except HistoryUnavailable:
                if not first or i == len(names) - 1:
                    raise

    # -- state -----------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        """Each member's state and each asset's route; ``connected`` while every routed
        asset's active source is up."""
        active: dict[str, int] = {name: 0 for name in self.members}
        for route in self.routes.values():
            active[route.active] += 1
        sources: dict[str, object] = {}
        for name, member in self.members.items():
            sources[name] = {
                "up": member.up_since is not None,
                "ended": member.ended,
                "primary_for": sum(1 for r in self.routes.values() if r.primary == name),
                "backup_for": sum(1 for r in self.routes.values() if r.backup == name),
                "active_for": active[name],
                "failovers": self.failovers[name],
                "recoveries": self.recoveries[name],
                "stale_after": member.stale_after,
                "recover_after": member.recover_after,
                "status": member.source.status(),
            }
        serving = {r.active for r in self.routes.values()}
        return {
            "source": self.name,
            "connected": all(self.members[n].up_since is not None for n in serving),
            "switches": sum(r.switches for r in self.routes.values()),
            "standby_ticks": self.standby_ticks,
            "out_of_order_ticks": self.out_of_order,
            "unrouted": self.unrouted,
            "sources": sources,
            "assets": {s: r.as_dict() for s, r in sorted(self.routes.items())},
        }
