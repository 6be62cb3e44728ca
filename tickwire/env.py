"""Typed, validated settings from environment variables and an optional ``.env`` file.

Every reader raises :class:`SettingError` naming the variable when its value is wrong, so a
bad setting stops the process at start with a message that says which one and why, instead
of surfacing later as a confusing failure deep inside a request.

``.env`` is read once, never overrides a variable already set in the real environment, and
understands ``KEY=value``, ``export KEY=value``, quotes and ``#`` comments.

Data and configuration (the SQLite database, ``.env``, collected static files) live in
:func:`tickwire_home`, never inside the installed package.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from platformdirs import user_data_dir

__all__ = [
    "SettingError",
    "StartupError",
    "env_bool",
    "env_float",
    "env_int",
    "env_list",
    "env_origins",
    "env_str",
    "load_dotenv",
    "load_home_dotenv",
    "tickwire_home",
]


class StartupError(Exception):
    """Something a process needs at start is missing or wrong: a setting, a service it
    connects to, the database's migrations. The message is one line that says what to
    change; entry points print it and exit with status 2, without a traceback."""


class SettingError(StartupError):
    """A setting has a value that cannot be used. The message names the setting."""

    def __init__(self, name: str, value: str, expected: str) -> None:
        super().__init__(f"setting {name}={value!r} is invalid: expected {expected}")
        self.name = name


#: The directory holding the ``tickwire`` package (templates, static files, migrations).
PACKAGE_DIR = Path(__file__).resolve().parent


def tickwire_home(environ: Mapping[str, str] | None = None) -> Path:
    """Where this installation keeps its data and configuration.

    ``TICKWIRE_HOME`` if set; else the source checkout when the package is imported from
    one (``make run``: the database and ``.env`` sit beside ``manage.py`` as always);
    else the user's data directory (``~/.local/share/tickwire`` on Linux). Never the
    installed package's own directory, which may be read-only and is replaced on upgrade.
    """
    value = _get("TICKWIRE_HOME", environ)
    if value:
        return Path(value).expanduser().resolve()
    checkout = PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "manage.py").is_file():
        return checkout
    return Path(user_data_dir("tickwire", appauthor=False))


def load_home_dotenv(environ: dict[str, str] | None = None) -> Path:
    """Read ``TICKWIRE_HOME/.env`` (variables already set win); returns the home.

    Entry points call this before choosing the settings module, so a ``.env`` can set
    ``DJANGO_SETTINGS_MODULE`` too.
    """
    home = tickwire_home(environ)
    load_dotenv(home / ".env", environ)
    return home


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def load_dotenv(path: Path, environ: dict[str, str] | None = None) -> None:
    """Set variables from ``path`` that are not already set. A missing file is fine."""
    target = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise SettingError(f"{path.name}:{lineno}", raw, "KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        target.setdefault(key, value)


def _get(name: str, environ: Mapping[str, str] | None) -> str | None:
    return (os.environ if environ is None else environ).get(name)


def env_str(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    value = _get(name, environ)
    return default if value is None else value


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    raw = _get(name, environ)
    if raw is None:
        return default
    expected = _range_text("an integer", minimum, maximum)
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingError(name, raw, expected) from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise SettingError(name, raw, expected)
    return value


def env_float(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> float:
    raw = _get(name, environ)
    if raw is None:
        return default
    expected = _range_text("a number", minimum, maximum)
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingError(name, raw, expected) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise SettingError(name, raw, expected)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise SettingError(name, raw, expected)
    return value


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    raw = _get(name, environ)
    if raw is None:
        return default
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise SettingError(name, raw, "one of true/false/1/0/yes/no/on/off")


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """Comma-separated list; blanks dropped."""
    raw = _get(name, environ)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_origins(
    name: str, default: list[str], environ: Mapping[str, str] | None = None
) -> list[str]:
    """Comma-separated web origins, each ``http(s)://host[:port]`` and nothing more."""
    origins = env_list(name, default, environ)
    for origin in origins:
        try:
            parts = urlsplit(origin)
            parts.port  # noqa: B018  # raises ValueError for a bad port
        except ValueError:
            raise SettingError(name, origin, "origins like https://app.example.com:8443") from None
        if (
            parts.scheme not in {"http", "https"}
            or not parts.hostname
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
        ):
            raise SettingError(name, origin, "origins like https://app.example.com:8443")
    return origins


def _range_text(kind: str, minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{kind} from {minimum} to {maximum}"
    if minimum is not None:
        return f"{kind} >= {minimum}"
    if maximum is not None:
        return f"{kind} <= {maximum}"
    return kind
