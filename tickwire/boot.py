"""Loading Django for a Tickwire process: ``tickwire serve|feed|manage``, ``manage.py``,
``python -m tickwire.serve`` and the ASGI module.

``TICKWIRE_HOME/.env`` is read first (so it may choose ``DJANGO_SETTINGS_MODULE``), then
the settings module — the embedded default, ``tickwire.settings.local``, unless one is
set — and ``django.setup()``. A wrong setting is a :class:`~tickwire.env.StartupError`,
which :func:`fail` prints as one line before exiting with status 2.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from tickwire.env import StartupError, load_home_dotenv

__all__ = ["DEFAULT_SETTINGS", "fail", "setup"]

DEFAULT_SETTINGS = "tickwire.settings.local"


def setup() -> None:
    """Load the settings and Django's apps.

    Raises StartupError (a SettingError for a wrong setting, which names it).
    """
    try:
        load_home_dotenv()
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS)
        import django

        django.setup()
    except ModuleNotFoundError as exc:
        module = os.environ["DJANGO_SETTINGS_MODULE"]
        if exc.name is None or not module.startswith(exc.name):
            raise
        raise StartupError(
            f"DJANGO_SETTINGS_MODULE={module!r} cannot be imported: use "
            "tickwire.settings.local (the embedded default) or tickwire.settings.production"
        ) from None


def fail(prog: str, exc: StartupError) -> NoReturn:
    """Print ``exc`` as one line and exit with status 2 (a configuration error)."""
    print(f"{prog}: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(2)
