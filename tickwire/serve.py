"""Start the Tickwire server: ``python -m tickwire.serve`` (what ``make run`` does).

Validates the settings, applies migrations and (in the embedded default) loads the demo
data, then runs uvicorn with the options the WebSocket endpoint needs. ``HOST`` and
``PORT`` (or ``--host``/``--port``) choose the address; the default is 127.0.0.1:8000.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
from typing import Any

from tickwire.argtypes import number

_port = number(int, minimum=1, maximum=65535, message="port {text} is out of range 1-65535")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tickwire serve", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=_port, default=os.environ.get("PORT", "8000"))
    parser.add_argument("--no-setup", action="store_true", help="skip migrations and demo data")
    parser.add_argument("--log-level", default=os.environ.get("UVICORN_LOG_LEVEL", "info"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if isinstance(args.port, str):
        args.port = _port(args.port)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tickwire.settings.local")
    from tickwire.env import SettingError

    try:
        import django

        django.setup()
    except SettingError as exc:
        print(f"tickwire: {exc}", file=sys.stderr)
        return 2
    from django.conf import settings
    from django.core.management import call_command

    if not args.no_setup:
        call_command("migrate", interactive=False, verbosity=0)
        if settings.TICKWIRE_DEMO_DATA:
            call_command("load_demo_data", verbosity=0)
    import uvicorn

    from tickwire.logconfig import announce

    base = f"http://{args.host}:{args.port}"
    announce(
        f"Tickwire on {base}/\n"
        f"  WebSocket   ws://{args.host}:{args.port}/ws/realtime/\n"
        f"  Dashboard   {base}/realtime/dashboard/\n"
        f"  Test page   {base}/realtime/test/\n"
        f"  REST API    {base}/api/assets/\n"
        f"  Status      {base}/realtime/status/   Health {base}/realtime/health/\n"
        f"  Log in      {base}/accounts/login/"
        + ("   (demo user: demo / demo)" if settings.TICKWIRE_DEMO_DATA else "")
        + f"\n  Admin       {base}/admin/   (staff: manage.py createsuperuser)"
    )
    raise_open_file_limit()
    uvicorn.run(
        "tickwire.asgi:application",
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        log_config=None,  # the settings' LOGGING (tickwire/logconfig.py) covers uvicorn's loggers
        **uvicorn_options(),
    )
    return 0


def uvicorn_options() -> dict[str, Any]:
    """The uvicorn options the WebSocket endpoint needs (also used by ``make bench``).

    ``ws``: the direct-write front end (:mod:`tickwire.realtime.fastws`), unless
    ``TICKWIRE_DIRECT_WRITE=0`` asks for uvicorn's stock protocol (every frame through ASGI
    ``websocket.send``; slower, kept as a fallback and for comparison).
    ``ws_ping_interval=None``: see below. ``ws_per_message_deflate=False``: compressing
    every frame for every client costs far more CPU than a market-data frame saves on the
    wire; no client here needs it.
    """
    from django.conf import settings

    direct = os.environ.get("TICKWIRE_DIRECT_WRITE", "1").strip().lower()
    if direct not in {"0", "1", "true", "false", "yes", "no", "on", "off"}:
        raise SystemExit(f"tickwire: TICKWIRE_DIRECT_WRITE={direct!r} must be 0 or 1")
    return {
        "lifespan": "on",
        "ws": "tickwire.realtime.fastws:DirectWebSocketProtocol"
        if direct in {"1", "true", "yes", "on"}
        else "websockets-sansio",
        "ws_max_size": settings.TICKWIRE_MAX_MESSAGE_BYTES,
        "ws_per_message_deflate": False,
        # No server pings: the protocol already closes a client silent for
        # WEBSOCKET_TIMEOUT (4000), and a ping timer per idle connection costs memory.
        "ws_ping_interval": None,
        "proxy_headers": True,
        "timeout_graceful_shutdown": 5,
        # Thousands of clients may connect at once (after a restart, say).
        "backlog": 4096,
    }


def raise_open_file_limit() -> int:
    """Raise this process's open-file soft limit to its hard limit (one fd per socket)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            pass
    return soft


if __name__ == "__main__":
    sys.exit(main())
