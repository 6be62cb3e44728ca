"""``tickwire alerts``: your alert rules on the server — list, add, remove, enable,
disable — the events they fired, and ``watch`` to see them fire live.

Server-side rules are evaluated by the server on every tick, whether or not anything of
yours is connected, and delivered by WebSocket, email or webhook. ``tickwire alert`` (no
s) is the other kind: a rule this command line evaluates itself, on the prices it
receives, for as long as it runs.

Usage errors exit with status 2, a refusal of the server (a field it rejected, a missing
or wrong token, no server) with status 1; either is one line naming the field or option.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from tickwire.argtypes import number
from tickwire.client import AlertFired, AlertsAPI, ConnectionStatus, TickwireError
from tickwire.client.rest import http_base
from tickwire.stream.alerts import RuleError, condition_from_dict

from .args import DEFAULT_URL, Subparsers, non_negative, positive
from .output import clock, notice, status_notice, tidy
from .run import Feed, run

__all__ = ["add_parser", "main", "parse_condition", "parse_expiry", "ws_url"]

_ID = positive(int)
_RETRIES = number(int, minimum=0, message="--retries must be 0 or more")
_KINDS = ("above", "below", "outside", "cross", "change-above", "change-below", "move",
          "deviation")  # fmt: skip
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_parser(commands: Subparsers) -> None:
    p = commands.add_parser(
        "alerts",
        help="your alert rules on the server: list, add, remove, events, watch, settings",
        description="Alert rules kept and evaluated by the server on every tick, delivered by\n"
        "WebSocket, email or webhook even while nothing of yours runs. (`tickwire alert`,\n"
        "without s, evaluates a rule here, on the prices it receives, while it runs.)\n"
        "Needs your API token: --token or TICKWIRE_TOKEN (POST /api/auth/token/).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  tickwire alerts add AAPL above 200 --cooldown 300\n"
        "  tickwire alerts add BTC-USD move 3 --within 300 --channel websocket --channel webhook\n"
        "  tickwire alerts add --portfolio 12 change-below -5 --one-shot\n"
        "  tickwire alerts list\n"
        "  tickwire alerts events --rule 7\n"
        "  tickwire alerts watch",
    )
    conn = argparse.ArgumentParser(add_help=False)
    conn.add_argument(
        "--url",
        default=os.environ.get("TICKWIRE_URL", DEFAULT_URL),
        help="the server: its WebSocket URL as the other commands take it, or "
        f"http://host:port (env TICKWIRE_URL; default {DEFAULT_URL})",
    )
    conn.add_argument(
        "--token",
        default=os.environ.get("TICKWIRE_TOKEN") or None,
        help="API token (env TICKWIRE_TOKEN)",
    )
    conn.add_argument("--json", action="store_true", help="print the API's JSON")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    actions.add_parser("list", parents=[conn], help="your rules").set_defaults(act=_list)

    add = actions.add_parser(
        "add",
        parents=[conn],
        help="add a rule",
        usage="tickwire alerts add (SYMBOL | --portfolio ID) CONDITION [VALUE ...] [options]",
        description="Add a rule. CONDITION VALUE: above LEVEL, below LEVEL, outside HIGH "
        "LOW, cross LEVEL [--direction up|down|both], change-above PCT, change-below PCT "
        "(since the previous close; -5 is down 5%), move PCT --within SECONDS [--direction], "
        "deviation (--stds K | --percent P) (--size N | --seconds T).",
    )
    add.add_argument("words", nargs="+", metavar="SYMBOL CONDITION VALUE")
    add.add_argument(
        "--portfolio", type=_ID, metavar="ID", help="a portfolio of yours, not a symbol"
    )
    add.add_argument("--name", default=None, help="a label (default: the rule's description)")
    add.add_argument(
        "--direction", choices=("up", "down", "both"), help="cross and move: which way"
    )
    add.add_argument("--within", type=positive(float), metavar="SECONDS", help="move: the window")
    add.add_argument("--stds", type=positive(float), help="deviation: standard deviations")
    add.add_argument("--percent", type=positive(float), help="deviation: percent from the mean")
    add.add_argument("--size", type=positive(int), help="deviation: the previous N values")
    add.add_argument("--seconds", type=positive(float), help="deviation: the previous T seconds")
    add.add_argument(
        "--hysteresis", type=non_negative, help="re-arm only this far back past the line"
    )
    add.add_argument("--cooldown", type=non_negative, help="seconds between two fires (0)")
    add.add_argument("--one-shot", action="store_true", help="fire once, then never again")
    add.add_argument(
        "--expires",
        metavar="WHEN",
        help="stop firing at this time: ISO-8601 with a timezone (2026-12-31T16:00:00Z) or "
        "a time from now (90m, 12h, 7d)",
    )
    add.add_argument(
        "--channel",
        dest="channels",
        action="append",
        choices=("websocket", "email", "webhook"),
        help="where fires go; repeat for several (default websocket)",
    )
    add.add_argument("--disabled", action="store_true", help="add it switched off")
    add.set_defaults(act=_add)

    for name, act, text in (
        ("remove", _remove, "delete a rule (its events stay)"),
        ("enable", _enable, "switch a rule on"),
        ("disable", _disable, "switch a rule off (it keeps its state)"),
    ):
        one = actions.add_parser(name, parents=[conn], help=text)
        one.add_argument("id", type=_ID, metavar="ID", help="the rule's id (see list)")
        one.set_defaults(act=act)

    events = actions.add_parser(
        "events", parents=[conn], help="what your rules fired, newest first"
    )
    events.add_argument("--rule", type=_ID, metavar="ID", help="only this rule's")
    events.add_argument("--limit", type=positive(int), default=20, help="at most this many (20)")
    events.set_defaults(act=_events)

    prefs = actions.add_parser(
        "settings",
        parents=[conn],
        help="where alerts go besides the WebSocket: email, webhook",
        description="Show your alert settings; with options, change them first. An empty "
        "--email means your account's address; an empty --webhook-url, no webhook.",
    )
    prefs.add_argument("--email", metavar="ADDRESS", help="where email alerts go")
    prefs.add_argument("--webhook-url", metavar="URL", help="an http:// or https:// URL")
    prefs.add_argument("--rotate-secret", action="store_true", help="a new webhook signing secret")
    prefs.set_defaults(act=_settings)

    watch = actions.add_parser(
        "watch",
        parents=[conn],
        help="print your alerts as they fire (over the WebSocket)",
        description="Connect the WebSocket with your token and print every alert of yours "
        "as the server pushes it; --json prints each as a line of JSON.",
    )
    watch.add_argument("--duration", type=positive(float), help="stop after this many seconds")
    watch.add_argument(
        "--retries", type=_RETRIES, default=None, help="give up after N failed reconnects (never)"
    )
    watch.set_defaults(act=None)
    for action in actions.choices.values():
        action.set_defaults(action_parser=action)
    p.set_defaults(standalone=main)


# -- reading the command line ------------------------------------------------------------------


def parse_condition(words: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """The condition JSON of ``CONDITION VALUE...`` and its options; raises ``ValueError``
    with a message naming what is wrong."""
    if not words:
        raise ValueError(f"name a condition: {', '.join(_KINDS)}")
    kind, values = words[0].lower(), words[1:]
    if kind not in _KINDS:
        raise ValueError(f"unknown condition {words[0]!r}; choose from {', '.join(_KINDS)}")
    wanted = {"outside": 2, "deviation": 0}.get(kind, 1)
    if len(values) != wanted:
        what = {0: "no value (use --stds/--percent and --size/--seconds)", 1: "one value",
                2: "two values (HIGH LOW)"}[wanted]  # fmt: skip
        raise ValueError(f"{kind} takes {what}, not {' '.join(values) or 'none'}")
    data: dict[str, Any] = {"kind": kind.replace("-", "_")}
    if kind in ("above", "below", "cross"):
        data["level"] = values[0]
    elif kind == "outside":
        data["above"], data["below"] = values
    elif kind in ("change-above", "change-below", "move"):
        data["percent"] = values[0]
    if kind == "move":
        if args.within is None:
            raise ValueError("move needs --within SECONDS")
        data["seconds"] = args.within
    elif args.within is not None:
        raise ValueError("--within is for move only")
    if args.direction is not None:
        if kind not in ("cross", "move"):
            raise ValueError("--direction is for cross and move only")
        data["direction"] = args.direction
    deviation = {k: getattr(args, k) for k in ("stds", "percent", "size", "seconds")}
    given = {k: v for k, v in deviation.items() if v is not None}
    if kind == "deviation":
        data.update({k: str(v) if k in ("stds", "percent") else v for k, v in given.items()})
    elif given:
        raise ValueError(f"--{next(iter(given))} is for deviation only")
    try:
        condition_from_dict(data)
    except RuleError as exc:
        field = exc.field.removeprefix("condition.")
        option = {"stds": "--stds", "size": "--size", "seconds": "--seconds"}.get(field)
        if kind == "deviation" and field == "percent":
            option = "--percent"
        raise ValueError(f"{option or field}: {exc.problem}") from None
    return data


def parse_expiry(text: str, now: datetime | None = None) -> str:
    """``--expires``: ISO-8601 with a timezone, or a time from now (``90m``, ``12h``,
    ``7d``), as ISO-8601 UTC. Raises ``ValueError``."""
    relative = _DURATION.match(text.strip().lower())
    if relative:
        delta = timedelta(seconds=float(relative.group(1)) * _UNITS[relative.group(2)])
        moment = (now or datetime.now(UTC)) + delta
        return moment.astimezone(UTC).isoformat()
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--expires: {text!r} is neither an ISO-8601 time (2026-12-31T16:00:00Z) "
            "nor a time from now (90m, 12h, 7d)"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"--expires: {text!r} needs a timezone, e.g. {text.strip()}Z")
    return moment.isoformat()


def ws_url(url: str) -> str:
    """The WebSocket URL of the server ``url`` names (http(s):// gets /ws/realtime/)."""
    parts = urlsplit(url)
    if parts.scheme in ("ws", "wss"):
        return url
    base = urlsplit(http_base(url))
    scheme = "wss" if base.scheme == "https" else "ws"
    return urlunsplit((scheme, base.netloc, base.path + "/ws/realtime/", "", ""))


# -- the actions ---------------------------------------------------------------------------------


def _when(iso: str | None) -> str:
    if not iso:
        return "never"
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _rule_line(rule: dict[str, Any]) -> str:
    state = "on " if rule["enabled"] else "off"
    name = f" ({rule['name']})" if rule["name"] else ""
    guards = []
    if rule["hysteresis"] != "0":
        guards.append(f"hysteresis {rule['hysteresis']}")
    if rule["cooldown"]:
        guards.append(f"cooldown {rule['cooldown']:g} s")
    if rule["one_shot"]:
        guards.append("one shot")
    if rule["expires_at"]:
        guards.append(f"until {_when(rule['expires_at'])}")
    extra = f" [{', '.join(guards)}]" if guards else ""
    return (
        f"{rule['id']:>5}  {state}  {rule['description']}{name}{extra}  "
        f"→ {', '.join(rule['channels'])}  · last fired {_when(rule['last_fired_at'])}"
    )


def _print_json(value: Any, out: TextIO) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False), file=out)


def _list(api: AlertsAPI, args: argparse.Namespace, out: TextIO) -> int:
    rules = api.alerts()
    if args.json:
        _print_json(rules, out)
    elif not rules:
        print("no alert rules; add one with: tickwire alerts add AAPL above 200", file=out)
    else:
        for rule in rules:
            print(_rule_line(rule), file=out)
    return 0


def _add(api: AlertsAPI, args: argparse.Namespace, out: TextIO) -> int:
    rule = api.add_alert(args.condition, **args.target, **args.options)
    if args.json:
        _print_json(rule, out)
    else:
        print(f"added rule {rule['id']}: {rule['description']}", file=out)
    return 0


def _remove(api: AlertsAPI, args: argparse.Namespace, out: TextIO) -> int:
    api.remove_alert(args.id)
    if not args.json:
        print(f"removed rule {args.id}", file=out)
    return 0


def _switch(enabled: bool) -> Callable[[AlertsAPI, argparse.Namespace, TextIO], int]:
    def act(api: AlertsAPI, args: argparse.Namespace, out: TextIO) -> int:
        rule = api.enable_alert(args.id, enabled)
        if args.json:
            _print_json(rule, out)
        else:
            word = "enabled" if enabled else "disabled"
            print(f"rule {rule['id']} {word}: {rule['description']}", file=out)
        return 0

    return act


_enable, _disable = _switch(True), _switch(False)


def _delivery(d: dict[str, Any]) -> str:
    text = f"{d['channel']} {d['status']}"
    if d["status"] == "failed" and d["last_error"]:
        text += f" ({d['last_error']})"
    return text


def _events(api: AlertsAPI, args: argparse.Namespace, out: TextIO) -> int:
    events = api.alert_events(rule=args.rule, limit=args.limit)
    if args.json:
        _print_json(events, out)
    elif not events:
        print("no alert events", file=out)
    else:
        for e in events:
            rule = f"rule {e['rule_id']}" if e["rule_id"] is not None else "deleted rule"
            sent = "; ".join(_delivery(d) for d in e["deliveries"])
            print(f"{_when(e['fired_at'])}  {rule}  {e['message']}  · {sent}", file=out)
    return 0


def _settings(api: AlertsAPI, args: argparse.Namespace, out: TextIO) -> int:
    changes = {
        k: v for k, v in (("email", args.email), ("webhook_url", args.webhook_url)) if v is not None
    }
    prefs = api.update_alert_settings(**changes) if changes else api.alert_settings()
    if args.rotate_secret:
        prefs = api.rotate_webhook_secret()
    if args.json:
        _print_json(prefs, out)
    else:
        print(f"email: {prefs['email'] or '(your account address)'}", file=out)
        print(f"webhook_url: {prefs['webhook_url'] or '(none)'}", file=out)
        print(f"webhook_secret: {prefs['webhook_secret']}", file=out)
    return 0


async def _watch(args: argparse.Namespace, feed: Feed) -> int:
    if not args.json:
        notice(f"watching the alerts of your rules at {feed.client.url}; Ctrl-C stops")
    async for event in feed.events():
        if isinstance(event, ConnectionStatus):
            if text := status_notice(event, feed.client):
                notice(text)
        elif isinstance(event, AlertFired):
            if args.json:
                print(json.dumps(event.alert.data, ensure_ascii=False), flush=True)
            else:
                alert = event.alert
                name = f" ({alert.name})" if alert.name else ""
                print(f"[{clock()}] ALERT rule {alert.rule_id}{name}: {alert.message}", flush=True)
    return 0


# -- running -------------------------------------------------------------------------------------


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors, found before anything is sent."""
    try:
        http_base(args.url)
    except ValueError as exc:
        parser.error(f"--url: {exc}")
    if not args.token:
        parser.error("alerts needs your API token: --token or TICKWIRE_TOKEN "
                     "(POST /api/auth/token/ gives it)")  # fmt: skip
    if args.action != "add":
        return
    words = list(args.words)
    if args.portfolio is not None:
        args.target = {"portfolio": args.portfolio}
    else:
        symbol = words.pop(0)
        if symbol.lower() in _KINDS:
            parser.error(f"name a symbol before {symbol!r}, or give --portfolio ID")
        args.target = {"asset": symbol}
    try:
        args.condition = parse_condition(words, args)
        expires = parse_expiry(args.expires) if args.expires is not None else None
    except ValueError as exc:
        parser.error(str(exc))
    options: dict[str, Any] = {
        "name": args.name,
        "hysteresis": None if args.hysteresis is None else repr(args.hysteresis),
        "cooldown": args.cooldown,
        "expires_at": expires,
        "one_shot": args.one_shot or None,
        "enabled": False if args.disabled else None,
        "channels": args.channels,
    }
    args.options = {k: v for k, v in options.items() if v is not None}


def main(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run ``tickwire alerts ACTION`` (``parser``: the whole command's); the exit status."""
    # Usage errors name the action: "usage: tickwire alerts add ...".
    _check(getattr(args, "action_parser", parser), args)
    if args.act is None:
        args.url = ws_url(args.url)
        # What run() and make_client() expect of a client command.
        args.symbols, args.raw, args.batch, args.heartbeat = [], False, False, 15.0
        try:
            return asyncio.run(run(args, _watch, sys.stderr))
        except KeyboardInterrupt:
            return 130
    try:
        with AlertsAPI(args.url, args.token) as api:
            code: int = args.act(api, args, sys.stdout)
            return code
    except TickwireError as exc:
        notice(tidy(str(exc)))
        return 1
