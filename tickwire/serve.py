"""Start the Tickwire server: ``python -m tickwire.serve`` (what ``make run`` does).

Validates the settings, applies migrations and (in the embedded default) loads the demo
data, then runs uvicorn with the options the WebSocket endpoint needs. ``HOST`` and
``PORT`` (or ``--host``/``--port``) choose the address; the default is 127.0.0.1:8000.
"""

from __future__ import annotations

import argparse
import os
import sys


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port {port} is out of range 1-65535")
    return port


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

    base = f"http://{args.host}:{args.port}"
    print(
        f"Tickwire on {base}/\n"
        f"  WebSocket   ws://{args.host}:{args.port}/ws/realtime/\n"
        f"  Dashboard   {base}/realtime/dashboard/\n"
        f"  Test page   {base}/realtime/test/\n"
        f"  REST API    {base}/api/assets/\n"
        f"  Status      {base}/realtime/status/   Health {base}/realtime/health/\n"
        f"  Log in      {base}/accounts/login/"
        + ("   (demo user: demo / demo)" if settings.TICKWIRE_DEMO_DATA else "")
        + f"\n  Admin       {base}/admin/   (staff: manage.py createsuperuser)",
        flush=True,
    )
    uvicorn.run(
        "tickwire.asgi:application",
        host=args.host,
        port=args.port,
        lifespan="on",
        ws_max_size=settings.TICKWIRE_MAX_MESSAGE_BYTES,
        ws_per_message_deflate=False,
        proxy_headers=True,
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
