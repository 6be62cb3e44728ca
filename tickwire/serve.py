"""Start the Tickwire server: ``tickwire serve`` or ``python -m tickwire.serve`` (what
``make run`` does).

Loads the settings (``TICKWIRE_HOME/.env`` first), and in the embedded default applies
migrations and, on a fresh database, loads the demo data once. Then it checks what the
server needs (:mod:`tickwire.realtime.preflight`) and runs uvicorn with the options the
WebSocket endpoint needs. Any configuration or dependency problem is one line on stderr
and exit status 2. ``HOST`` and ``PORT`` (or ``--host``/``--port``) choose the address;
the default is 127.0.0.1:8000.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
from typing import Any

from tickwire.extras import MissingExtra, require

if __name__ == "__main__":
    # `python -m tickwire.serve` without the server extra: one line, not a traceback.
    try:
        require("server", "python -m tickwire.serve")
    except MissingExtra as exc:
        print(f"tickwire: {exc}", file=sys.stderr)
        sys.exit(2)

from tickwire.argtypes import number
from tickwire.boot import fail, setup
from tickwire.env import StartupError, load_home_dotenv
from tickwire.logconfig import announce

_port = number(int, minimum=1, maximum=65535, message="port {text} is out of range 1-65535")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tickwire serve", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=_port, default=os.environ.get("PORT", "8000"))
    parser.add_argument("--no-setup", action="store_true", help="skip migrations and demo data")
    parser.add_argument("--log-level", default=os.environ.get("UVICORN_LOG_LEVEL", "info"))
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        load_home_dotenv()  # HOST and PORT may come from TICKWIRE_HOME/.env
    except StartupError as exc:
        fail("tickwire", exc)
    args = build_parser().parse_args(argv)
    if isinstance(args.port, str):
        args.port = _port(args.port)
    try:
        setup()
        options = uvicorn_options()
        if not args.no_setup:
            prepare_database()
        from tickwire.realtime import control_socket, preflight

        preflight.check_server()
        # The in-process feed listens on TICKWIRE_HOME/run/control.sock while the server
        # runs, so `update_asset_prices` goes through it (the runtime opens and removes it).
        control_socket.enable()
    except StartupError as exc:
        fail("tickwire", exc)
    import uvicorn

    announce(banner(args.host, args.port))
    raise_open_file_limit()
    uvicorn.run(
        "tickwire.asgi:application",
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        log_config=None,  # the settings' LOGGING (tickwire/logconfig.py) covers uvicorn's loggers
        **options,
    )
    return 0


def prepare_database() -> None:
    """In the embedded default: apply migrations, and load the demo data into a database
    that has no assets yet (once: a restart keeps users, positions and prices).

    Elsewhere nothing: production is migrated by ``tickwire manage migrate``. Raises
    StartupError when the database cannot be used.
    """
    from django.conf import settings
    from django.core.management import call_command
    from django.db import DatabaseError, connections

    from tickwire.portfolios.demo import load_demo_data_once
    from tickwire.realtime.preflight import database_error

    if not settings.TICKWIRE_MIGRATE_ON_START:
        return
    try:
        call_command("migrate", interactive=False, verbosity=0)
        summary = load_demo_data_once() if settings.TICKWIRE_DEMO_DATA else None
    except DatabaseError as exc:
        raise StartupError(database_error(exc)) from None
    finally:
        connections.close_all()
    if summary is not None:
        announce(str(summary))


def banner(host: str, port: int) -> str:
    """Where everything is, printed once the server is about to listen."""
    from django.conf import settings

    base = f"http://{host}:{port}"
    demo = "   (demo user: demo / demo)" if settings.TICKWIRE_DEMO_DATA else ""
    return (
        f"Tickwire on {base}/\n"
        f"  WebSocket   ws://{host}:{port}/ws/realtime/\n"
        f"  Dashboard   {base}/realtime/dashboard/\n"
        f"  Test page   {base}/realtime/test/\n"
        f"  REST API    {base}/api/assets/\n"
        f"  Status      {base}/realtime/status/   Health {base}/realtime/health/\n"
        f"  Log in      {base}/accounts/login/{demo}\n"
        f"  Admin       {base}/admin/   (staff: tickwire manage createsuperuser)\n"
        f"  Data        {settings.TICKWIRE_HOME}   (TICKWIRE_HOME)"
    )


def uvicorn_options() -> dict[str, Any]:
    """The uvicorn options the WebSocket endpoint needs (also used by ``make bench``).

    Raises StartupError for a wrong TICKWIRE_DIRECT_WRITE.

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
        raise StartupError(f"TICKWIRE_DIRECT_WRITE={direct!r} must be 0 or 1")
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
