"""The ``tickwire`` command: watch, stream, record and alert on live prices; serve.

    tickwire watch AAPL MSFT                      live table with rolling mean and change
    tickwire stream AAPL | jq .data.price         newline-delimited JSON on stdout
    tickwire record AAPL --out ticks.parquet      record, flushing in batches
    tickwire alert AAPL --above 200 --window 20   seed 000's running-mean alert, as a tool
    tickwire serve                                start the server (what `make run` does)

Every client command takes ``--url`` and ``--token`` (or ``TICKWIRE_URL`` and
``TICKWIRE_TOKEN``), reconnects with backoff when the connection drops, and with ``--raw``
and ``--subscribe TEMPLATE`` reads any other JSON WebSocket feed. Ctrl-C (or SIGTERM)
stops a command cleanly: a recording writes its last batch first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any, TextIO

import orjson

from tickwire.argtypes import number
from tickwire.client import (
    AlertEvent,
    AssetUpdate,
    Backoff,
    Client,
    ConnectionStatus,
    Crossing,
    Event,
    Gap,
    RawFeed,
    RollingStats,
    ServerError,
    ServerMessage,
    Threshold,
    TickwireError,
    open_recorder,
)
from tickwire.stream.protocol import ProtocolError, normalize_symbol

__all__ = ["build_parser", "main"]

DEFAULT_URL = "ws://127.0.0.1:8000/ws/realtime/"
_DEFAULT_TEMPLATE = '{"type": "subscribe", "symbol": "{symbol}"}'
log = logging.getLogger("tickwire.cli")


# -- argument types ---------------------------------------------------------------------------


def _positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    return number(kind, above=0)


_non_negative = number(float, minimum=0)
_finite = number(float)
_retries = number(int, minimum=0, message="--retries must be 0 or more")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tickwire`` command."""
    parser = argparse.ArgumentParser(
        prog="tickwire",
        description="Live market data from a Tickwire server (or any JSON WebSocket feed).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  tickwire watch AAPL MSFT\n"
            "  tickwire stream BTC-USD --count 10\n"
            "  tickwire record AAPL MSFT --out ticks.parquet --duration 3600\n"
            "  tickwire alert AAPL --above 200 --window 20 --webhook https://example.org/hook\n"
            "  tickwire serve --port 8000"
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    common = argparse.ArgumentParser(add_help=False)
    conn = common.add_argument_group("connection")
    conn.add_argument(
        "--url",
        default=os.environ.get("TICKWIRE_URL", DEFAULT_URL),
        help=f"WebSocket URL (env TICKWIRE_URL; default {DEFAULT_URL})",
    )
    conn.add_argument(
        "--token",
        default=os.environ.get("TICKWIRE_TOKEN") or None,
        help="API token (env TICKWIRE_TOKEN)",
    )
    conn.add_argument(
        "--retries",
        type=_retries,
        default=None,
        help="give up after this many failed reconnect attempts in a row (default: never)",
    )
    conn.add_argument(
        "--heartbeat",
        type=_positive(float),
        default=15.0,
        help="seconds between pings that keep the connection alive (default 15)",
    )
    conn.add_argument(
        "--no-batch",
        dest="batch",
        action="store_false",
        help="one update per frame (default: ask the server to batch frames)",
    )
    conn.add_argument("--duration", type=_positive(float), help="stop after this many seconds")
    raw = common.add_argument_group("other feeds")
    raw.add_argument(
        "--raw", action="store_true", help="the URL is another JSON WebSocket feed, not Tickwire"
    )
    raw.add_argument(
        "--subscribe",
        metavar="TEMPLATE",
        default=_DEFAULT_TEMPLATE,
        help='with --raw: the subscribe message; "{symbol}" is replaced by each symbol, '
        '"{symbols}" by the list (default: %(default)s)',
    )
    raw.add_argument(
        "--price-field",
        default=None,
        help="with --raw: dotted path of the price in a message (default: price, data.price, p)",
    )
    raw.add_argument(
        "--symbol-field",
        default=None,
        help="with --raw: dotted path of the symbol (default: symbol, data.symbol, s)",
    )
    symbols = argparse.ArgumentParser(add_help=False)
    symbols.add_argument("symbols", nargs="+", metavar="SYMBOL", help="e.g. AAPL BTC-USD")

    p = sub.add_parser(
        "watch",
        parents=[common, symbols],
        help="live table in the terminal",
        description="A live table of prices with rolling mean and change.",
    )
    p.add_argument(
        "--window", type=_positive(int), default=20, help="rolling window, in updates (20)"
    )

    p = sub.add_parser(
        "stream",
        parents=[common, symbols],
        help="newline-delimited JSON to stdout",
        description="Every update as one JSON line on stdout (gaps too, as type 'gap'); "
        "connection news on stderr.",
    )
    p.add_argument("--count", type=_positive(int), help="stop after this many updates")

    p = sub.add_parser(
        "record",
        parents=[common, symbols],
        help="record updates to Parquet or CSV",
        description="Record updates to a .parquet or .csv file, written in batches so a "
        "crash loses at most the last one. Ctrl-C stops and writes the last batch.",
    )
    p.add_argument("--out", required=True, help="output file: *.parquet or *.csv")
    p.add_argument("--batch-size", type=_positive(int), help="rows per batch (1000; CSV 500)")
    p.add_argument(
        "--flush-seconds",
        type=_positive(float),
        default=1.0,
        help="write a batch at least this often (1 s)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")

    p = sub.add_parser(
        "alert",
        parents=[common, symbols],
        help="alert when a price or rolling mean crosses a line",
        description="Alert when the price — or with --window N its rolling mean over N "
        "updates — goes above/below a line or crosses a level. Hysteresis and cooldown "
        "stop a price hovering at the line from firing a storm.",
    )
    p.add_argument("--above", type=_finite, help="alert when the value is above this")
    p.add_argument("--below", type=_finite, help="alert when the value is below this")
    p.add_argument("--cross", type=_finite, metavar="LEVEL", help="alert on crossing LEVEL")
    p.add_argument(
        "--direction",
        choices=("up", "down", "both"),
        default="both",
        help="with --cross: which crossings (both)",
    )
    p.add_argument(
        "--window",
        type=_positive(int),
        default=1,
        help="watch the rolling mean of this many updates (default 1: the price)",
    )
    p.add_argument(
        "--hysteresis",
        type=_non_negative,
        default=0.0,
        help="the value must come back this far past the line to re-arm (0)",
    )
    p.add_argument(
        "--cooldown",
        type=_non_negative,
        default=60.0,
        help="seconds between two alerts of one symbol (60)",
    )
    p.add_argument("--webhook", metavar="URL", help="POST each alert as JSON to this URL")
    p.add_argument(
        "--exec",
        dest="exec_cmd",
        metavar="CMD",
        help="run CMD for each alert (alert JSON on stdin, TICKWIRE_ALERT_* variables)",
    )
    p.add_argument("--once", action="store_true", help="exit after the first alert")
    p.add_argument("--verbose", action="store_true", help="print every value, like seed 000")

    sub.add_parser(
        "serve",
        help="start the Tickwire server (what `make run` does)",
        description="Start the server; options are those of `python -m tickwire.serve` "
        "(--host, --port, --no-setup, --log-level).",
        add_help=False,
    )
    return parser


# -- running a client -------------------------------------------------------------------------


class _Stop:
    """Set by Ctrl-C / SIGTERM or the duration; commands poll it between events."""

    def __init__(self, duration: float | None) -> None:
        self.event = asyncio.Event()
        self.deadline = None if duration is None else time.monotonic() + duration
        self.interrupted = False

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    @property
    def done(self) -> bool:
        left = self.remaining()
        return self.event.is_set() or (left is not None and left <= 0)


def _make_client(args: argparse.Namespace) -> Client:
    raw = None
    if args.raw:
        kwargs: dict[str, Any] = {"subscribe": args.subscribe}
        if args.price_field:
            kwargs["price_paths"] = (args.price_field,)
        if args.symbol_field:
            kwargs["symbol_paths"] = (args.symbol_field,)
        raw = RawFeed(**kwargs)
    return Client(
        args.url,
        token=args.token,
        backoff=Backoff(max_attempts=args.retries),
        heartbeat=args.heartbeat,
        batch=args.batch and not args.raw,
        raw=raw,
    )


async def _events(client: Client, stop: _Stop, tick: float = 0.5) -> AsyncIterator[Event | None]:
    """The client's events until stopped; None every ``tick`` seconds without one."""
    while not stop.done:
        left = stop.remaining()
        timeout = tick if left is None else max(0.0, min(tick, left))
        waiter = asyncio.ensure_future(client.next_event())
        stopper = asyncio.ensure_future(stop.event.wait())
        done, _ = await asyncio.wait(
            {waiter, stopper}, timeout=timeout, return_when="FIRST_COMPLETED"
        )
        stopper.cancel()
        if waiter not in done:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
            yield None
            continue
        event = waiter.result()
        if event is None:
            return
        yield event


async def _run(args: argparse.Namespace, body: Callable[[Client, _Stop], Any], err: TextIO) -> int:
    stop = _Stop(args.duration)
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        stop.interrupted = True
        stop.event.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, interrupt)
    client = _make_client(args)
    try:
        connecting = asyncio.ensure_future(client.connect())
        stopper = asyncio.ensure_future(stop.event.wait())
        left = stop.remaining()
        done, _ = await asyncio.wait(
            {connecting, stopper}, timeout=left, return_when="FIRST_COMPLETED"
        )
        stopper.cancel()
        if connecting not in done:
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, TickwireError):
                await connecting
            print("tickwire: stopped before a connection was made", file=err)
            return 1
        connecting.result()
        try:
            await client.subscribe(*args.symbols)
        except TimeoutError as exc:
            print(f"tickwire: {exc}", file=err)
        result: int = await body(client, stop)
        return result
    except TickwireError as exc:
        print(f"tickwire: {exc}", file=err)
        return 1
    finally:
        await client.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


def _status_line(status: ConnectionStatus) -> str:
    if status.state == "disconnected":
        return (
            f"disconnected: {status.reason}; retrying in {status.retry_in or 0:.1f} s "
            f"(attempt {status.attempt})"
        )
    if status.state == "connected":
        return f"connected to {status.url}"
    return f"{status.state}: {status.reason}".rstrip(": ")


def _gap_line(gap: Gap) -> str:
    return f"{gap.symbol}: updates after seq {gap.last_seq} are lost ({gap.reason})"


def _clock(at: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if at is None else at).strftime("%H:%M:%S")


# -- stream -----------------------------------------------------------------------------------


def _json_line(message: ServerMessage) -> bytes:
    out: dict[str, Any] = {"type": message.type, "data": message.data}
    if message.timestamp is not None:
        out["timestamp"] = message.timestamp
    if message.seq is not None:
        out["seq"] = message.seq
    return orjson.dumps(out) + b"\n"


async def _stream(args: argparse.Namespace, client: Client, stop: _Stop) -> int:
    out = sys.stdout.buffer
    count = 0
    try:
        async for event in _events(client, stop):
            if event is None:
                continue
            if isinstance(event, ConnectionStatus):
                if event.state == "connected" and client.reconnects == 0:
                    continue
                print(f"tickwire: {_status_line(event)}", file=sys.stderr, flush=True)
                continue
            if isinstance(event, Gap):
                line = orjson.dumps(
                    {
                        "type": "gap",
                        "data": {
                            "symbol": event.symbol,
                            "last_seq": event.last_seq,
                            "resumed_seq": event.resumed_seq,
                            "reason": event.reason,
                        },
                    }
                )
                out.write(line + b"\n")
                out.flush()
                continue
            out.write(_json_line(event))
            out.flush()
            if isinstance(event, AssetUpdate):
                count += 1
                if args.count and count >= args.count:
                    break
    except BrokenPipeError:
        # The reader (head, jq -n ...) is done: not an error. Keep Python from
        # complaining again when it flushes stdout at exit.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


# -- watch ------------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2, sign: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+,.{digits}f}" if sign else f"{value:,.{digits}f}"


async def _watch(args: argparse.Namespace, client: Client, stop: _Stop) -> int:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    stats = RollingStats(args.window)
    latest: dict[str, AssetUpdate] = {}
    counts: dict[str, int] = {}
    status = f"connected to {client.url}"
    gaps: list[str] = []

    def render() -> Table:
        table = Table(
            title=f"tickwire · {len(latest)} of {len(args.symbols)} symbols",
            caption=status + (f" · gaps: {len(gaps)} ({gaps[-1]})" if gaps else ""),
            caption_justify="left",
        )
        for name, justify in (
            ("Symbol", "left"),
            ("Price", "right"),
            ("Change", "right"),
            ("Chg %", "right"),
            (f"Mean({args.window})", "right"),
            ("Window Δ", "right"),
            ("Std", "right"),
            ("Updates", "right"),
            ("Time", "right"),
        ):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for symbol, u in latest.items():
            w = stats[symbol].stats()
            colour = "green" if (u.change or 0) >= 0 else "red"
            table.add_row(
                symbol,
                _fmt(u.price, 4 if u.price < 10 else 2),
                f"[{colour}]{_fmt(u.change, sign=True)}[/]",
                f"[{colour}]{_fmt(u.change_percent, sign=True)}%[/]",
                _fmt(w.mean, 4 if u.price < 10 else 2),
                _fmt(w.change, 4 if u.price < 10 else 2, sign=True),
                _fmt(w.std, 4),
                str(counts[symbol]),
                _clock(w.last_at),
            )
        return table

    console = Console()
    _Errors.muted = True  # the table's caption shows disconnects and retries
    with Live(render(), console=console, refresh_per_second=4, transient=False) as live:
        async for event in _events(client, stop, tick=0.25):
            if isinstance(event, AssetUpdate):
                stats.update(event)
                latest[event.symbol] = event
                counts[event.symbol] = counts.get(event.symbol, 0) + 1
            elif isinstance(event, ConnectionStatus):
                status = _status_line(event)
            elif isinstance(event, Gap):
                gaps.append(_gap_line(event))
            elif isinstance(event, ServerError):
                status = f"server error {event.code}: {event.message}"
            live.update(render())
    _Errors.muted = False
    return 0


# -- record -----------------------------------------------------------------------------------


async def _record(args: argparse.Namespace, client: Client, stop: _Stop) -> int:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    recorder = open_recorder(
        args.out,
        batch_size=args.batch_size,
        flush_seconds=args.flush_seconds,
        overwrite=args.force,
    )
    started = time.monotonic()
    per_symbol: dict[str, int] = {}
    gaps = 0
    status = "connected"
    err = Console(stderr=True)

    def render() -> Text:
        elapsed = time.monotonic() - started
        total = recorder.rows_written + recorder.rows_pending
        rate = total / elapsed if elapsed > 0 else 0.0
        symbols = "  ".join(f"{s} {n}" for s, n in per_symbol.items())
        return Text(
            f"recording to {args.out}: {recorder.rows_written} rows written "
            f"({recorder.batches_written} batches), {recorder.rows_pending} pending, "
            f"{rate:.1f}/s, {elapsed:.0f} s, gaps {gaps} · {status}\n{symbols}"
        )

    try:
        with Live(render(), console=err, refresh_per_second=2, transient=False) as live:
            async for event in _events(client, stop, tick=min(0.5, args.flush_seconds)):
                if isinstance(event, AssetUpdate):
                    recorder.write(event)
                    per_symbol[event.symbol] = per_symbol.get(event.symbol, 0) + 1
                elif isinstance(event, Gap):
                    gaps += 1
                    recorder.mark_gap(event.symbol)
                    err.print(f"tickwire: {_gap_line(event)}")
                elif isinstance(event, ConnectionStatus):
                    status = _status_line(event)
                if recorder.flush_due():
                    recorder.flush()
                live.update(render())
    finally:
        recorder.close()
    print(
        f"tickwire: recorded {recorder.rows_written} rows to {args.out}"
        + (f" ({gaps} gaps, marked in column gap_before)" if gaps else ""),
        file=sys.stderr,
    )
    return 0


# -- alert ------------------------------------------------------------------------------------


def _post(url: str, payload: bytes) -> None:
    request = urllib.request.Request(
        url,
        data=payload,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "tickwire-alert"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def _exec(cmd: str, payload: bytes, alert: AlertEvent, source: str) -> int:
    env = {
        **os.environ,
        "TICKWIRE_ALERT_SYMBOL": alert.symbol,
        "TICKWIRE_ALERT_KIND": alert.kind,
        "TICKWIRE_ALERT_VALUE": repr(alert.value),
        "TICKWIRE_ALERT_LEVEL": repr(alert.level),
        "TICKWIRE_ALERT_SOURCE": source,
        "TICKWIRE_ALERT_MESSAGE": alert.describe(),
    }
    # One line of JSON on stdin, newline-terminated, as line-reading tools expect.
    done = subprocess.run(cmd, shell=True, input=payload + b"\n", env=env, timeout=60, check=False)
    return done.returncode


async def _alert(args: argparse.Namespace, client: Client, stop: _Stop) -> int:
    stats = RollingStats(args.window)
    source = "price" if args.window == 1 else f"mean({args.window})"
    rules: dict[str, Threshold | Crossing] = {}

    def rule(symbol: str) -> Threshold | Crossing:
        r = rules.get(symbol)
        if r is None:
            if args.cross is not None:
                r = Crossing(
                    args.cross,
                    direction=args.direction,
                    hysteresis=args.hysteresis,
                    cooldown=args.cooldown,
                    symbol=symbol,
                )
            else:
                r = Threshold(
                    args.above,
                    args.below,
                    hysteresis=args.hysteresis,
                    cooldown=args.cooldown,
                    symbol=symbol,
                )
            rules[symbol] = r
        return r

    async for event in _events(client, stop):
        if isinstance(event, ConnectionStatus):
            if event.state != "connected" or client.reconnects:
                print(f"tickwire: {_status_line(event)}", file=sys.stderr, flush=True)
            continue
        if isinstance(event, Gap):
            print(f"tickwire: {_gap_line(event)}", file=sys.stderr, flush=True)
            continue
        if not isinstance(event, AssetUpdate):
            continue
        w = stats.update(event, at=time.time())
        if w.count < args.window or w.mean is None:
            if args.verbose:
                print(
                    f"[{_clock()}] {event.symbol} price={event.price:g} "
                    f"(window {w.count}/{args.window})",
                    flush=True,
                )
            continue
        value = w.mean
        fired = rule(event.symbol).check(value)
        if fired is None:
            if args.verbose:
                print(f"[{_clock()}] {event.symbol} price={event.price:g} {source}={value:g}")
            continue
        print(f"[{_clock(fired.at)}] ALERT {event.symbol}: {source} {fired.describe()}", flush=True)
        payload = json.dumps(
            {
                "symbol": event.symbol,
                "kind": fired.kind,
                "value": fired.value,
                "level": fired.level,
                "source": source,
                "price": event.price,
                "seq": event.seq,
                "timestamp": event.timestamp,
                "message": f"{source} {fired.describe()}",
            }
        ).encode()
        if args.webhook:
            try:
                await asyncio.to_thread(_post, args.webhook, payload)
            except (OSError, urllib.error.URLError, ValueError) as exc:
                print(f"tickwire: webhook {args.webhook} failed: {exc}", file=sys.stderr)
        if args.exec_cmd:
            try:
                code = await asyncio.to_thread(_exec, args.exec_cmd, payload, fired, source)
            except (OSError, subprocess.TimeoutExpired) as exc:
                print(f"tickwire: --exec failed: {exc}", file=sys.stderr)
            else:
                if code != 0:
                    print(f"tickwire: --exec command exited with {code}", file=sys.stderr)
        if args.once:
            break
    return 0


# -- main -------------------------------------------------------------------------------------


class _Errors(logging.Handler):
    """The client's warnings (disconnects, retries) as ``tickwire: ...`` lines on stderr."""

    #: True while a live display shows the connection state itself.
    muted = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or _Errors.muted:
            return  # fatal errors are raised, and printed once by main()
        with contextlib.suppress(Exception):
            print(f"tickwire: {record.getMessage()}", file=sys.stderr, flush=True)


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not args.raw:
        try:
            args.symbols = [normalize_symbol(s) for s in args.symbols]
        except ProtocolError as exc:
            parser.error(exc.message.replace("'symbol' ", "symbol "))
    try:
        _make_client(args)
    except ValueError as exc:
        parser.error(str(exc))
    if args.command == "alert":
        if args.cross is None and args.above is None and args.below is None:
            parser.error("alert needs --above, --below or --cross")
        if args.cross is not None and (args.above is not None or args.below is not None):
            parser.error("--cross cannot be combined with --above/--below")
        if args.above is not None and args.below is not None and args.below > args.above:
            parser.error("--below must not be greater than --above")
        if args.webhook and not args.webhook.startswith(("http://", "https://")):
            parser.error("--webhook must be an http:// or https:// URL")
    if args.command == "record":
        out = args.out.lower()
        if not out.endswith((".csv", ".parquet", ".pq")):
            parser.error("--out must end in .parquet or .csv")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tickwire`` command; returns the exit status (2 for usage errors)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        from tickwire import serve

        return serve.main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    logger = logging.getLogger("tickwire.client")
    if not logger.handlers:
        logger.addHandler(_Errors())
        logger.setLevel(logging.WARNING)
        logger.propagate = False
    bodies: dict[str, Callable[[argparse.Namespace, Client, _Stop], Any]] = {
        "watch": _watch,
        "stream": _stream,
        "record": _record,
        "alert": _alert,
    }
    body = bodies[args.command]
    if args.command == "record":
        # Fail on a bad output path before connecting, with the recorder's own message.
        try:
            open_recorder(args.out, overwrite=args.force).close()
            os.remove(args.out)
        except (OSError, ValueError, ImportError) as exc:
            print(f"tickwire: {exc}", file=sys.stderr)
            return 1
    try:
        return asyncio.run(_run(args, lambda c, s: body(args, c, s), sys.stderr))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
