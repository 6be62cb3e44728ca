"""Logging for every Tickwire process: plain lines or one JSON object per line, to stderr
or a file, with secrets scrubbed.

The settings set ``LOGGING = logging_config(LOG_LEVEL)``; Django applies it at start, and
because it names uvicorn's loggers too, the server's access and error lines (and the
start-up banner, see :func:`announce`) come out in the same format.

* ``LOG_FORMAT``: ``text`` (default) or ``json`` — one object per line with ``time``,
  ``level``, ``logger``, ``message``, whatever the call passed in ``extra``
  (``connection_id``, ``user_id`` on connection events) and ``exc_info`` for tracebacks.
* ``LOG_FILE``: a path; lines go there instead of stderr, through a
  :class:`logging.handlers.WatchedFileHandler`, so logrotate may move the file away (the
  next line reopens it) without ``copytruncate`` or a signal.

Every line, in both formats, goes through :func:`redact` last: tokens, passwords, API
keys and URL credentials never reach a log, whatever a message or a traceback carries.

Events that come in bursts (a connection opened or closed: 10,000 at once after a node
restart) go through :class:`BurstLog`, which writes them one by one up to a rate and a
count line for the rest.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from tickwire.env import SettingError, env_str

__all__ = [
    "BurstFilter",
    "BurstLog",
    "JsonFormatter",
    "TextFormatter",
    "announce",
    "log_format",
    "logging_config",
    "redact",
]

_HIDDEN = "[REDACTED]"

# Names whose value is a secret, as they appear in URLs, headers, JSON and repr()s.
_SECRET_NAMES = (
    r"token|access_token|api[_-]?key|apikey|key|secret|client_secret|password|passwd"
    r"|pwd|auth|authorization|sessionid|csrftoken"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Token abc / Bearer abc / Basic abc (headers, reprs of header lists):
    # a credential-like word after them (a digit in it, or 20+ characters), not English.
    (
        re.compile(
            r"(?i)\b(token|bearer|basic)(\s+)"
            r"(?:(?=[A-Za-z._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}|[A-Za-z0-9._~+/=-]{20,})"
        ),
        rf"\1\2{_HIDDEN}",
    ),
    # ?token=abc&apikey=abc, password=abc (query strings, key=value messages)
    (re.compile(rf"(?i)\b({_SECRET_NAMES})=([^&\s\"',;)]+)"), rf"\1={_HIDDEN}"),
    # "token": "abc", 'password': 'abc' (JSON, dict reprs)
    (
        re.compile(rf"(?i)([\"']({_SECRET_NAMES})[\"']\s*:\s*)([\"'])(?:(?!\3).)*\3"),
        rf"\1\3{_HIDDEN}\3",
    ),
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):([^/\s@]+)@"), rf"\1:{_HIDDEN}@"),
)


def redact(text: str) -> str:
    """``text`` with secret values (tokens, passwords, API keys, URL passwords) replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def log_format() -> str:
    """``LOG_FORMAT``: "text" or "json" (a SettingError names the variable otherwise)."""
    value = env_str("LOG_FORMAT", "text").strip().lower()
    if value not in {"text", "json"}:
        raise SettingError("LOG_FORMAT", value, "text or json")
    return value


class TextFormatter(logging.Formatter):
    """``LEVEL time logger message``, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(_JsonFormatter):
    """One JSON object per record, redacted; uvicorn's access lines get their fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"}
        )
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", *args, **kwargs)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data.pop("color_message", None)  # uvicorn's copy of the message, with ANSI codes
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, http_version, status = args
            log_data.update(
                client_addr=client,
                method=method,
                path=path,
                http_version=http_version,
                status_code=status,
            )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """The ``LOGGING`` dict for ``LOG_FORMAT``/``LOG_FILE``; ``level`` for Tickwire's loggers.

    Covers the root logger (warnings of libraries), Tickwire's loggers at ``level``,
    Django's and uvicorn's (``uvicorn.error`` for the server, ``uvicorn.access`` for requests), so
    every line a server process writes has one format. uvicorn's lines per WebSocket
    connection are rate-limited (:class:`BurstFilter`). In the JSON format Python's
    warnings are logged too, rather than printed.
    """
    json_format = log_format() == "json"
    path = env_str("LOG_FILE", "").strip()
    if json_format:
        logging.captureWarnings(True)
        formatter: dict[str, Any] = {"()": f"{__name__}.JsonFormatter"}
    else:
        formatter = {
            "()": f"{__name__}.TextFormatter",
            "format": "{levelname} {asctime} {name} {message}",
            "style": "{",
        }
    handler: dict[str, Any] = (
        {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": path,
            "encoding": "utf-8",
            "formatter": "main",
        }
        if path
        else {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "main"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "filters": {"connection_bursts": {"()": BurstFilter}},
        "handlers": {"main": handler},
        "root": {"handlers": ["main"], "level": "WARNING"},
        "loggers": {
            "tickwire": {"handlers": ["main"], "level": level, "propagate": False},
            # Django's own (request errors, 4xx warnings): its default handler prints
            # plain lines while DEBUG is on.
            "django": {"handlers": ["main"], "level": "INFO", "propagate": False},
            "uvicorn": {"handlers": ["main"], "level": "INFO", "propagate": False},
            # uvicorn's lines per WebSocket connection, at most 20 a second each.
            "uvicorn.error": {"level": "INFO", "filters": ["connection_bursts"]},
            "uvicorn.access": {"handlers": ["main"], "level": "INFO", "propagate": False},
            "py.warnings": {"handlers": ["main"], "level": "WARNING", "propagate": False},
        },
    }


def announce(text: str) -> None:
    """Show the start-up banner: printed as is, or in the JSON format one log record (the
    lines in ``lines``), so a log pipeline never sees a plain line."""
    if log_format() == "json":
        lines = text.splitlines()
        logging.getLogger("tickwire.serve").info(
            lines[0] if lines else "", extra={"lines": lines[1:]}
        )
        return
    print(text, flush=True)
    sys.stdout.flush()


class BurstLog:
    """One INFO line per event, up to ``limit`` per ``window`` seconds; past that, the
    events are counted and one line says how many there were, when the window ends.

    A line costs a few tens of microseconds (formatting, scrubbing, the write): one per
    connection was ~10% of a node's CPU while 10,000 clients reconnected at once. The count
    line has the event's ``message`` with ``: N more in the last W s (not logged one by
    one)``, and the fields ``suppressed`` (N) and, as None, every field the single lines
    carry (``fields``), so a log query on them still matches its shape. With the logger at
    DEBUG every event is logged. The count line is written by a timer of the running event
    loop (one per window with events over the limit), else by the next event.
    """

    __slots__ = (
        "_flush",
        "fields",
        "limit",
        "logger",
        "message",
        "skipped",
        "start",
        "used",
        "window",
    )

    def __init__(
        self,
        logger: logging.Logger,
        message: str,
        fields: tuple[str, ...] = (),
        limit: int = 20,
        window: float = 1.0,
    ) -> None:
        self.logger = logger
        self.message = message
        self.fields = fields
        self.limit = limit
        self.window = window
        self.start = float("-inf")
        self.used = 0
        self.skipped = 0
        self._flush: asyncio.TimerHandle | None = None

    def log(self, detail: str, *args: object, extra: dict[str, Any] | None = None) -> bool:
        """Log ``message`` + ``detail`` % ``args`` at INFO, or count it; whether it was logged."""
        if not self.logger.isEnabledFor(logging.INFO) or not self.allow():
            return False
        self.logger.info(self.message + detail, *args, extra=extra)
        return True

    def allow(self) -> bool:
        """Whether one more event may be logged now (else it is counted)."""
        if self.logger.isEnabledFor(logging.DEBUG):
            return True
        now = time.monotonic()
        if now - self.start >= self.window:
            self.summarize()
            self.start = now
            self.used = 0
        if self.used >= self.limit:
            self.skipped += 1
            if self._flush is None:
                self._schedule(self.start + self.window - now)
            return False
        self.used += 1
        return True

    def summarize(self) -> None:
        """Write the count line for the events not logged one by one (if any) now."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if not self.skipped:
            return
        skipped, self.skipped = self.skipped, 0
        extra: dict[str, Any] = dict.fromkeys(self.fields)
        extra["suppressed"] = skipped
        self.logger.info(
            "%s: %d more in the last %g s (not logged one by one)",
            self.message,
            skipped,
            self.window,
            extra=extra,
        )

    def _schedule(self, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # the next event writes the count
        self._flush = loop.call_later(max(delay, 0.0), self._timer)

    def _timer(self) -> None:
        self._flush = None
        self.summarize()
        self.start = float("-inf")


class BurstFilter(logging.Filter):
    """A logger filter: the uvicorn and websockets lines written once per WebSocket
    connection (``[accepted]``, ``connection open``, ``connection closed``) go through a
    :class:`BurstLog` each, so a burst of connections writes at most ``limit`` of each per
    ``window`` seconds and a count line for the rest. Every other line passes."""

    MESSAGES = {
        '%s - "WebSocket %s" [accepted]': "WebSocket accepted",
        "connection open": "connection open",
        "connection closed": "connection closed",
    }

    def __init__(self, logger: str = "uvicorn.error", limit: int = 20, window: float = 1.0):
        super().__init__()
        target = logging.getLogger(logger)
        # logging.config adds a logger's filters without removing the ones a previous
        # configuration added: replace ours rather than stack a second count.
        for old in [f for f in target.filters if isinstance(f, BurstFilter)]:
            target.removeFilter(old)
        self.bursts = {
            msg: BurstLog(target, label, limit=limit, window=window)
            for msg, label in self.MESSAGES.items()
        }

    def filter(self, record: logging.LogRecord) -> bool:
        burst = self.bursts.get(record.msg) if isinstance(record.msg, str) else None
        return burst is None or burst.allow()
