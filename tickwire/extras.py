"""The optional parts of an install (pip's *extras*) and the one line that says which one
to install when a module is missing.

``pip install tickwire`` is the client library and the client side of the ``tickwire``
command. The server is ``tickwire[server]``; a Redis broker needs ``tickwire[redis]``, a
PostgreSQL database ``tickwire[postgres]``, Parquet files ``tickwire[parquet]`` and
DataFrames ``tickwire[pandas]``. This module imports only the standard library, so a
client-only install can say what is missing instead of printing a traceback.
"""

from __future__ import annotations

import importlib.util

__all__ = ["EXTRAS", "MissingExtra", "explain", "install_command", "missing", "require"]

#: Per extra, the modules it provides that Tickwire imports (top-level names). A module of
#: the ``server`` extra that is missing means the server was not installed.
EXTRAS: dict[str, tuple[str, ...]] = {
    "server": (
        "django",
        "channels",
        "rest_framework",
        "drf_spectacular",
        "drf_spectacular_sidecar",
        "uvicorn",
        "dj_database_url",
        "whitenoise",
        "platformdirs",
        "prometheus_client",
        "pythonjsonlogger",
        "jwt",
        "cryptography",
    ),
    "redis": ("redis", "hiredis"),
    "postgres": ("psycopg",),
    "parquet": ("pyarrow",),
    "pandas": ("pandas",),
}

_EXTRA_OF = {module: extra for extra, modules in EXTRAS.items() for module in modules}


class MissingExtra(ModuleNotFoundError):
    """An optional part of Tickwire is not installed. The message is one line naming the
    extra and the ``pip install`` command that adds it."""

    def __init__(self, what: str, extra: str, module: str) -> None:
        super().__init__(
            f"{what} needs the {extra} extra, which is not installed (no module named "
            f"{module!r}): {install_command(extra)}",
            name=module,
        )
        self.extra = extra


def install_command(extra: str) -> str:
    """The command that installs ``extra`` next to the base package."""
    return f"pip install 'tickwire[{extra}]'"


def missing(extra: str) -> str | None:
    """The first module of ``extra`` that cannot be imported, or None when all can."""
    for module in EXTRAS[extra]:
        if importlib.util.find_spec(module) is None:
            return module
    return None


def require(extra: str, what: str) -> None:
    """Raise :class:`MissingExtra` (naming ``what`` needs it) unless ``extra`` is installed.

    Raises KeyError for an extra that does not exist.
    """
    module = missing(extra)
    if module is not None:
        raise MissingExtra(what, extra, module)


def explain(exc: ModuleNotFoundError, what: str) -> MissingExtra | None:
    """``exc`` as a :class:`MissingExtra` when the missing module belongs to an extra;
    None for any other module (a real defect, whose traceback should be seen)."""
    if isinstance(exc, MissingExtra):
        return exc
    top = (exc.name or "").partition(".")[0]
    extra = _EXTRA_OF.get(top)
    return None if extra is None else MissingExtra(what, extra, top)
