"""``tickwire alert``: alert when a price or its rolling mean crosses a line, and tell a
webhook or a command."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tickwire.client import (
    AlertEvent,
    AssetUpdate,
    ConnectionStatus,
    Crossing,
    Gap,
    RollingStats,
    Threshold,
)

from .args import Subparsers, finite, non_negative, positive
from .output import clock, gap_line, notice, status_notice
from .run import Feed

__all__ = ["add_parser", "check", "run"]


def add_parser(commands: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "alert",
        parents=parents,
        help="alert when a price or rolling mean crosses a line",
        description="Alert when the price — or with --window N its rolling mean over N "
        "updates — goes above/below a line or crosses a level. Hysteresis and cooldown "
        "stop a price hovering at the line from firing a storm. This command evaluates the "
        "rule itself, while it runs; `tickwire alerts` keeps rules on the server, which "
        "evaluates them on every tick and delivers them even when nothing of yours runs.",
    )
    p.add_argument("--above", type=finite, help="alert when the value is above this")
    p.add_argument("--below", type=finite, help="alert when the value is below this")
    p.add_argument("--cross", type=finite, metavar="LEVEL", help="alert on crossing LEVEL")
    p.add_argument(
        "--direction",
        choices=("up", "down", "both"),
        default="both",
        help="with --cross: which crossings (both)",
    )
    p.add_argument(
        "--window",
        type=positive(int),
        default=1,
        help="watch the rolling mean of this many updates (default 1: the price)",
    )
    p.add_argument(
        "--hysteresis",
        type=non_negative,
        default=0.0,
        help="the value must come back this far past the line to re-arm (0)",
    )
    p.add_argument(
        "--cooldown",
        type=non_negative,
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
    p.set_defaults(body=run, check=check)


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.cross is None and args.above is None and args.below is None:
        parser.error("alert needs --above, --below or --cross")
    if args.cross is not None and (args.above is not None or args.below is not None):
        parser.error("--cross cannot be combined with --above/--below")
    if args.above is not None and args.below is not None and args.below > args.above:
        parser.error("--below must not be greater than --above")
    if args.webhook and not args.webhook.startswith(("http://", "https://")):
        parser.error("--webhook must be an http:// or https:// URL")


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


def _rule(args: argparse.Namespace, symbol: str) -> Threshold | Crossing:
    if args.cross is not None:
        return Crossing(
            args.cross,
            direction=args.direction,
            hysteresis=args.hysteresis,
            cooldown=args.cooldown,
            symbol=symbol,
        )
    return Threshold(
        args.above,
        args.below,
        hysteresis=args.hysteresis,
        cooldown=args.cooldown,
        symbol=symbol,
    )


async def _notify(args: argparse.Namespace, payload: bytes, fired: AlertEvent, source: str) -> None:
    """POST the alert to the webhook and run the command; failures are reported, not fatal."""
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


async def run(args: argparse.Namespace, feed: Feed) -> int:
    stats = RollingStats(args.window)
    source = "price" if args.window == 1 else f"mean({args.window})"
    rules: dict[str, Threshold | Crossing] = {}
    if args.window > 1:
        # Nothing can fire before then: say so, or the command looks stuck.
        each = " of each symbol" if len(args.symbols) > 1 else ""
        notice(f"waiting for {args.window} prices{each} to fill the window…")

    async for event in feed.events():
        if isinstance(event, ConnectionStatus):
            if text := status_notice(event, feed.client):
                notice(text)
            continue
        if isinstance(event, Gap):
            notice(gap_line(event))
            continue
        if not isinstance(event, AssetUpdate):
            continue
        w = stats.update(event, at=time.time())
        if w.count < args.window or w.mean is None:
            if args.verbose:
                print(
                    f"[{clock()}] {event.symbol} price={event.price:g} "
                    f"(window {w.count}/{args.window})",
                    flush=True,
                )
            continue
        value = w.mean
        rule = rules.get(event.symbol)
        if rule is None:
            rule = rules[event.symbol] = _rule(args, event.symbol)
        fired = rule.check(value)
        if fired is None:
            if args.verbose:
                print(f"[{clock()}] {event.symbol} price={event.price:g} {source}={value:g}")
            continue
        print(f"[{clock(fired.at)}] ALERT {event.symbol}: {source} {fired.describe()}", flush=True)
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
        await _notify(args, payload, fired, source)
        if args.once:
            break
    return 0
