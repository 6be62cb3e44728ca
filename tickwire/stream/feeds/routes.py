"""Which data source serves which asset: ``TICKWIRE_FEED_SOURCES``, parsed and checked.

A route is one configured source: a ``name``, a ``source`` type (one of
:data:`~tickwire.stream.feeds.registry.SOURCES`), its ``options`` (the same names and checks
as ``TICKWIRE_FEED_<OPTION>``), the assets it serves as primary — ``kinds``, ``exchanges``
and/or an explicit ``symbols`` list — and optionally a ``backup``: another route that takes
those assets over when this one is down or silent (:mod:`.router` does the switching).

How an asset finds its primary route:

* an asset listed in a route's ``symbols`` (or, for a route with no other selector, a key of
  its ``symbol_map`` option) belongs to that route; two routes listing it is an error;
* otherwise a route matches it when every selector it gives matches (``kinds`` *and*
  ``exchanges`` when both are given); two routes matching it is an error;
* assets no route serves are reported (:attr:`RoutePlan.unrouted`) and are not streamed.

A route with no selector serves nothing as primary; it must then be some route's backup.
Every mistake raises :class:`RouteConfigError` naming the entry and the field. Nothing here
opens a connection: :func:`build_routed_source` only constructs the sources.
"""

from __future__ import annotations

import json
import logging
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import Instrument, Source, SourceConfigError
from .registry import SOURCES, _Options, build_source
from .router import Member, RoutedSource

__all__ = [
    "ROUTE_FIELDS",
    "RouteConfigError",
    "RoutePlan",
    "RouteSpec",
    "build_routed_source",
    "load_routes_text",
    "parse_routes",
    "plan_routes",
    "single_route",
]

log = logging.getLogger("tickwire.feed")

SETTING = "TICKWIRE_FEED_SOURCES"

#: Every field of an entry, with a one-line description (docs/sources.md has more).
ROUTE_FIELDS: dict[str, str] = {
    "name": "the route's name (unique); backups and status refer to it",
    "source": "the source type: one of SOURCES",
    "options": "the source's options, as TICKWIRE_FEED_<OPTION> would give them",
    "kinds": "asset kinds served as primary: stock, etf, crypto, fx, ...",
    "exchanges": "asset exchanges (Asset.exchange) served as primary",
    "symbols": "an explicit list of symbols served as primary",
    "backup": "the name of the route that takes these assets over on failure",
    "stale_after": "seconds without a tick of an asset before its backup takes over",
    "recover_after": "seconds the primary must be healthy again before it takes back",
}

DEFAULT_RECOVER_AFTER = 30.0


class RouteConfigError(SourceConfigError):
    """``TICKWIRE_FEED_SOURCES`` is wrong. The message names the entry and the field."""


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One entry of ``TICKWIRE_FEED_SOURCES``, checked for shape (not yet against assets)."""

    name: str
    source: str
    options: Mapping[str, Any] = field(default_factory=dict)
    kinds: tuple[str, ...] = ()
    exchanges: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    backup: str | None = None
    #: None: only a source that is down hands its assets over, never a quiet one.
    stale_after: float | None = None
    recover_after: float = DEFAULT_RECOVER_AFTER
    #: Serves every asset no other route claims (the single-source settings).
    everything: bool = False
    #: How messages name this entry (the single-source settings name their variables).
    label: str = ""

    @property
    def selects(self) -> bool:
        return bool(self.kinds or self.exchanges or self.symbols or self.everything)


def _label(spec: RouteSpec) -> str:
    return spec.label or _where(0, spec.name)


def _no_variable(exc: Exception) -> str:
    """A source's message without the ``(TICKWIRE_FEED_<OPTION>)`` it names: in an entry,
    options come from the entry, not from those variables."""
    return re.sub(r" \(TICKWIRE_FEED_[A-Z_]+\)", "", str(exc))


def _where(index: int, name: str | None) -> str:
    return f"{SETTING} entry {name!r}" if name else f"{SETTING} entry #{index + 1}"


def _names(value: object, where: str, key: str, upper: bool = False) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list | tuple):
        if not all(isinstance(v, str) for v in value):
            raise RouteConfigError(f"{where}: {key} must be a list of strings")
        items = [v.strip() for v in value]
    else:
        raise RouteConfigError(f"{where}: {key} must be a list of strings or a comma list")
    out = [v.upper() if upper else v for v in items if v]
    if not out:
        raise RouteConfigError(f"{where}: {key} is empty")
    return tuple(dict.fromkeys(out))


def _seconds(value: object, where: str, key: str) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not 0 < seconds < float("inf"):
        raise RouteConfigError(f"{where}: {key} = {value!r}: expected seconds > 0")
    return seconds


def _entry(index: int, raw: object, name: str | None = None) -> RouteSpec:
    where = _where(index, name)
    if not isinstance(raw, Mapping):
        raise RouteConfigError(f"{where}: expected an object with {', '.join(ROUTE_FIELDS)}")
    if name is None:
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise RouteConfigError(f"{where}: name is missing (a unique text)")
        name = name.strip()
        where = _where(index, name)
    unknown = sorted(set(raw) - set(ROUTE_FIELDS))
    if unknown:
        raise RouteConfigError(
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(ROUTE_FIELDS)}"
        )
    source = raw.get("source")
    if source not in SOURCES:
        raise RouteConfigError(
            f"{where}: source = {source!r}: expected one of {', '.join(SOURCES)}"
        )
    options = raw.get("options", {})
    if not isinstance(options, Mapping):
        raise RouteConfigError(f"{where}: options must be an object of source options")
    try:
        _Options(str(source), options)
    except SourceConfigError as exc:
        raise RouteConfigError(f"{where}: options: {_no_variable(exc)}") from None
    backup = raw.get("backup")
    if backup is not None and (not isinstance(backup, str) or not backup.strip()):
        raise RouteConfigError(f"{where}: backup must be the name of another entry")
    stale = raw.get("stale_after")
    return RouteSpec(
        name=name,
        source=str(source),
        options=dict(options),
        kinds=_names(raw["kinds"], where, "kinds") if "kinds" in raw else (),
        exchanges=_names(raw["exchanges"], where, "exchanges") if "exchanges" in raw else (),
        symbols=_names(raw["symbols"], where, "symbols", upper=True) if "symbols" in raw else (),
        backup=backup.strip() if isinstance(backup, str) else None,
        stale_after=None if stale is None else _seconds(stale, where, "stale_after"),
        recover_after=_seconds(
            raw.get("recover_after", DEFAULT_RECOVER_AFTER), where, "recover_after"
        ),
    )


def parse_routes(raw: object) -> list[RouteSpec]:
    """The entries of ``TICKWIRE_FEED_SOURCES``: a list of objects with a ``name`` each, or
    an object of name → entry. Checks everything that needs no database: fields, source
    types, options, unique names, backups that exist and form no loop.

    Raises RouteConfigError naming the entry and the field.
    """
    if isinstance(raw, Mapping):
        specs = [_entry(i, entry, str(name)) for i, (name, entry) in enumerate(raw.items())]
    elif isinstance(raw, list | tuple):
        specs = [_entry(i, entry) for i, entry in enumerate(raw)]
    else:
        raise RouteConfigError(f"{SETTING} must be a list of entries or an object of them")
    if not specs:
        raise RouteConfigError(f"{SETTING} is empty: give at least one entry")
    by_name: dict[str, RouteSpec] = {}
    for spec in specs:
        if spec.name in by_name:
            raise RouteConfigError(f"{_where(0, spec.name)}: name is used by two entries")
        by_name[spec.name] = spec
    backups = {s.backup for s in specs if s.backup}
    for spec in specs:
        where = _where(0, spec.name)
        if spec.backup is not None and spec.backup not in by_name:
            raise RouteConfigError(
                f"{where}: backup {spec.backup!r} is not an entry; entries: {', '.join(by_name)}"
            )
        seen = [spec.name]
        nxt = spec.backup
        while nxt is not None:
            if nxt in seen:
                loop = " -> ".join([*seen, nxt])
                raise RouteConfigError(f"{where}: backup loop {loop}")
            seen.append(nxt)
            nxt = by_name[nxt].backup
        mapped = "symbol_map" in spec.options and bool(spec.options["symbol_map"])
        if not spec.selects and not mapped and spec.name not in backups:
            raise RouteConfigError(
                f"{where}: serves nothing: give kinds, exchanges or symbols, "
                "or name it as another entry's backup"
            )
    return specs


def load_routes_text(text: str) -> object:
    """``TICKWIRE_FEED_SOURCES`` from the environment: JSON (starting with ``[`` or ``{``),
    or the path of a ``.json`` or ``.toml`` file (TOML: an array of tables ``[[sources]]``
    or tables ``[sources.<name>]``). Raises RouteConfigError for unreadable text."""
    text = text.strip()
    if text.startswith(("[", "{")):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise RouteConfigError(f"{SETTING} is not valid JSON: {exc}") from None
    path = Path(text).expanduser()
    try:
        content = path.read_text()
    except OSError as exc:
        raise RouteConfigError(
            f"{SETTING}={text!r}: not JSON and not a readable file ({exc.strerror})"
        ) from None
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(content)
            if "sources" not in data:
                raise RouteConfigError(f"{SETTING} file {text}: no [[sources]] tables")
            return data["sources"]
        return json.loads(content)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise RouteConfigError(f"{SETTING} file {text}: {exc}") from None


def single_route(source: str, options: Mapping[str, Any]) -> RouteSpec:
    """The one route of the single-source settings (``TICKWIRE_FEED_SOURCE``): every asset.

    The source itself picks what it can carry (Binance and Coinbase: crypto, plus what
    ``symbol_map`` names; kabu with a ``symbol_map``: exactly the mapped symbols); the map's
    keys must still be assets (checked by :func:`plan_routes`)."""
    return RouteSpec(
        name=source,
        source=source,
        options=dict(options),
        everything=True,
        label=f"{source} option",
    )


@dataclass(slots=True)
class RoutePlan:
    """Who serves what: ``primary`` and ``backup`` route per symbol, instruments per route."""

    specs: dict[str, RouteSpec]
    primary: dict[str, str]
    backup: dict[str, str]
    instruments: dict[str, list[Instrument]]
    unrouted: list[str]


def _mapped(spec: RouteSpec) -> tuple[str, ...]:
    raw = spec.options.get("symbol_map")
    if not raw:
        return ()
    try:
        mapping = _Options(spec.source, {"symbol_map": raw}).get_map("symbol_map")
    except SourceConfigError as exc:
        if spec.label:
            raise
        raise RouteConfigError(f"{_label(spec)}: options: {_no_variable(exc)}") from None
    return tuple(k.upper() for k in mapping)


def plan_routes(
    specs: Sequence[RouteSpec],
    instruments: Sequence[Instrument],
    *,
    complete: bool = True,
) -> RoutePlan:
    """Give every instrument its primary (and backup) route.

    ``complete`` says ``instruments`` are every asset the database has: a symbol named in
    ``symbols`` or a ``symbol_map`` key that is not among them is then an error (when the
    caller asked for a subset, as ``--symbols`` does, such names are skipped instead).

    Raises RouteConfigError naming the entry and the field.
    """
    by_symbol = {i.symbol: i for i in instruments}
    by_name = {s.name: s for s in specs}
    explicit: dict[str, str] = {}
    for spec in specs:
        where = _label(spec)
        mapped = _mapped(spec)
        if complete:
            map_key = (
                "symbol_map (TICKWIRE_FEED_SYMBOL_MAP)" if spec.label else "options.symbol_map"
            )
            for key, names in (("symbols", spec.symbols), (map_key, mapped)):
                missing = [s for s in names if s not in by_symbol]
                if missing:
                    raise RouteConfigError(
                        f"{where}{' ' if spec.label else ': '}{key} names "
                        f"{', '.join(missing)}, not an active asset with a price "
                        "(add it with `tickwire manage add_asset SYMBOL --price P`, or remove it)"
                    )
        listed = spec.symbols or (mapped if not spec.selects else ())
        for symbol in listed:
            if symbol not in by_symbol:
                continue
            other = explicit.get(symbol)
            if other is not None:
                raise RouteConfigError(
                    f"{where}: symbols: {symbol} is also listed by entry {other!r} "
                    "(an asset has one primary; use backup for a second source)"
                )
            explicit[symbol] = spec.name
    primary: dict[str, str] = {}
    unrouted: list[str] = []
    for inst in instruments:
        owner = explicit.get(inst.symbol)
        if owner is None:
            matches = [
                s.name
                for s in specs
                if (s.kinds or s.exchanges)
                and (not s.kinds or inst.kind in s.kinds)
                and (not s.exchanges or inst.exchange in s.exchanges)
            ]
            if len(matches) > 1:
                raise RouteConfigError(
                    f"{_label(by_name[matches[1]])}: kinds/exchanges: {inst.symbol} ({inst.kind}"
                    f"{', ' + inst.exchange if inst.exchange else ''}) is also served by "
                    f"entry {matches[0]!r} (an asset has one primary; list it in symbols "
                    "of one entry to choose)"
                )
            if not matches:
                catch_all = [s.name for s in specs if s.everything]
                matches = catch_all[:1]
            owner = matches[0] if matches else None
        if owner is None:
            unrouted.append(inst.symbol)
        else:
            primary[inst.symbol] = owner
    backup = {sym: b for sym, p in primary.items() if (b := by_name[p].backup) is not None}
    served: dict[str, list[Instrument]] = {s.name: [] for s in specs}
    for inst in instruments:
        for route in (primary.get(inst.symbol), backup.get(inst.symbol)):
            if route is not None:
                served[route].append(inst)
    return RoutePlan(by_name, primary, backup, served, unrouted)


def build_routed_source(
    specs: Sequence[RouteSpec],
    instruments: Sequence[Instrument],
    *,
    interval: float,
    batch_size: int,
    complete: bool = True,
    defaults: Mapping[str, Any] | None = None,
    check_interval: float = 1.0,
) -> Source:
    """The source that serves ``instruments`` as the routes say.

    One route without a backup is that route's own source (nothing to switch); otherwise a
    :class:`~tickwire.stream.feeds.router.RoutedSource` over every route that serves an
    asset. ``defaults`` are options every route gets unless it sets them (the simulator's
    seed). Raises RouteConfigError naming the entry and the field.
    """
    plan = plan_routes(specs, instruments, complete=complete)
    if plan.unrouted:
        log.warning(
            "%s: no route serves %d assets, which keep their stored prices: %s",
            SETTING,
            len(plan.unrouted),
            ", ".join(plan.unrouted),
        )
    members: list[Member] = []
    for spec in specs:
        served = plan.instruments[spec.name]
        if not served and not spec.label:
            log.warning("%s entry %r serves no asset; not started", SETTING, spec.name)
            continue
        options = {**(defaults or {}), **spec.options}
        try:
            source = build_source(
                spec.source, served, interval=interval, batch_size=batch_size, options=options
            )
        except SourceConfigError as exc:
            if spec.label:
                raise
            raise RouteConfigError(f"{_label(spec)} ({spec.source}): {_no_variable(exc)}") from None
        members.append(Member(spec.name, source, spec.stale_after, spec.recover_after))
    if len(members) == 1 and not plan.backup:
        return members[0].source
    return RoutedSource(
        members,
        primary=plan.primary,
        backup=plan.backup,
        unrouted=plan.unrouted,
        check_interval=check_interval,
    )
