"""Logging: LOG_FORMAT=json gives one object per line, LOG_FILE survives logrotate, and no
secret reaches a log in either format."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config

import pytest

from tickwire.env import SettingError
from tickwire.logconfig import BurstFilter, BurstLog, logging_config, redact


@pytest.fixture
def configure(monkeypatch):
    """Apply logging_config() under the given environment; restore the test logging after."""
    saved = {
        name: (lg.handlers[:], lg.level, lg.propagate, lg.filters[:])
        for name in ("tickwire", "uvicorn", "uvicorn.error", "uvicorn.access", "py.warnings", "")
        for lg in [logging.getLogger(name)]
    }

    def apply(**env):
        for key in ("LOG_FORMAT", "LOG_FILE"):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        logging.config.dictConfig(logging_config("INFO"))

    yield apply
    logging.captureWarnings(False)
    for name, (handlers, level, propagate, filters) in saved.items():
        lg = logging.getLogger(name)
        for h in lg.handlers:
            if h not in handlers:
                h.close()
        lg.handlers[:] = handlers
        lg.filters[:] = filters
        lg.level, lg.propagate = level, propagate


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("GET /quote?symbol=AAPL&token=c0ffee1234abcd HTTP/1.1", "c0ffee1234abcd"),
        ("connecting to wss://ws.finnhub.io?token=d1k3y5ecret", "d1k3y5ecret"),
        ("Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b", "9944b09199c62bcf"),
        ("header Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
        ("redis://:hunter2pass@redis:6379/0 unreachable", "hunter2pass"),
        ("postgres://tickwire:pgsecret@db:5432/tickwire", "pgsecret"),
        ('request {"type": "authenticate", "token": "abcdef0123456789"}', "abcdef0123456789"),
        ("options {'api_key': 'k-123456789', 'url': 'x'}", "k-123456789"),
        ("login failed for demo with password=letmein99", "letmein99"),
    ],
)
def test_secrets_are_redacted(line, secret):
    out = redact(line)
    assert secret not in out
    assert "[REDACTED]" in out


@pytest.mark.parametrize(
    "line",
    [
        "feed simulator started with 15 instruments; symbol=AAPL seq=12 code=4001",
        "authenticate failed: connection 7c0e, invalid or revoked API token",
        "a token received from somewhere; basic settings loaded",
    ],
)
def test_what_is_not_a_secret_stays_readable(line):
    assert redact(line) == line


def test_json_lines_carry_extra_fields_and_tracebacks_without_secrets(configure, capsys):
    configure(LOG_FORMAT="json")
    log = logging.getLogger("tickwire.realtime.consumer")
    log.info("websocket opened", extra={"connection_id": "c-1", "user_id": 7})
    try:
        raise ConnectionError("cannot reach redis://:topsecret99@redis:6379/0")
    except ConnectionError:
        log.exception("broker failed")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "websocket opened" and first["level"] == "INFO"
    assert first["logger"] == "tickwire.realtime.consumer"
    assert first["connection_id"] == "c-1" and first["user_id"] == 7
    assert first["time"].endswith("+00:00")
    assert "ConnectionError" in second["exc_info"]
    assert "topsecret99" not in lines[1]


def test_uvicorn_access_lines_are_json_with_their_fields(configure, capsys):
    configure(LOG_FORMAT="json")
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/metrics?token=abc12345678", "1.1", 200
    )
    record = json.loads(capsys.readouterr().err)
    assert record["method"] == "GET" and record["status_code"] == 200
    assert "abc12345678" not in json.dumps(record)


def test_text_format_is_one_plain_line_redacted(configure, capsys):
    configure()
    logging.getLogger("tickwire.x").warning("retrying https://user:pw12345@host/path")
    err = capsys.readouterr().err
    assert err.startswith("WARNING ") and "tickwire.x" in err
    assert "pw12345" not in err


def test_log_file_is_reopened_after_logrotate_moves_it(configure, tmp_path, capsys):
    path = tmp_path / "tickwire.log"
    configure(LOG_FORMAT="json", LOG_FILE=str(path))
    log = logging.getLogger("tickwire.rotation")
    log.warning("before rotation")
    path.rename(tmp_path / "tickwire.log.1")  # what logrotate does (no copytruncate)
    log.warning("after rotation")
    assert capsys.readouterr().err == ""  # the file, not stderr
    rotated = (tmp_path / "tickwire.log.1").read_text().splitlines()
    fresh = path.read_text().splitlines()
    assert [json.loads(x)["message"] for x in rotated] == ["before rotation"]
    assert [json.loads(x)["message"] for x in fresh] == ["after rotation"]


def test_an_unknown_format_names_the_variable(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "yaml")
    with pytest.raises(SettingError, match="LOG_FORMAT"):
        logging_config()


def _burst_log(configure, capsys, **kwargs):
    configure(LOG_FORMAT="json")
    capsys.readouterr()
    logger = logging.getLogger("tickwire.realtime.consumer")
    return BurstLog(logger, "websocket opened", ("connection_id", "user_id"), **kwargs)


def _records(capsys):
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_a_burst_is_logged_one_by_one_up_to_the_limit_then_counted(configure, capsys):
    burst = _burst_log(configure, capsys, limit=3, window=3600.0)
    logged = [
        burst.log(": connection %s", f"c-{i}", extra={"connection_id": f"c-{i}", "user_id": None})
        for i in range(10)
    ]
    assert logged == [True] * 3 + [False] * 7
    assert [r["connection_id"] for r in _records(capsys)] == ["c-0", "c-1", "c-2"]
    burst.summarize()
    [count] = _records(capsys)
    assert count["message"] == "websocket opened: 7 more in the last 3600 s (not logged one by one)"
    assert count["suppressed"] == 7 and count["level"] == "INFO"
    assert count["connection_id"] is None and count["user_id"] is None
    burst.summarize()
    assert _records(capsys) == []  # counted once


async def test_the_count_line_is_written_when_the_window_ends(configure, capsys):
    burst = _burst_log(configure, capsys, limit=1, window=0.05)
    for i in range(4):
        burst.log(": connection %s", i, extra={"connection_id": i, "user_id": None})
    assert len(_records(capsys)) == 1
    for _ in range(200):  # bounded: up to 2 s
        await asyncio.sleep(0.01)
        records = _records(capsys)
        if records:
            break
    assert [r["suppressed"] for r in records] == [3]
    assert burst.log(": connection %s", 5, extra={"connection_id": 5, "user_id": None})


def test_at_debug_every_event_is_logged(configure, capsys):
    burst = _burst_log(configure, capsys, limit=1, window=3600.0)
    burst.logger.setLevel(logging.DEBUG)
    try:
        assert all(burst.log(": %s", i) for i in range(5))
    finally:
        burst.logger.setLevel(logging.NOTSET)
    assert len(_records(capsys)) == 5


def test_uvicorns_lines_per_websocket_connection_are_rate_limited_and_counted(configure, capsys):
    configure(LOG_FORMAT="json")
    capsys.readouterr()
    server = logging.getLogger("uvicorn.error")
    [bursts] = [f for f in server.filters if isinstance(f, BurstFilter)]
    for port in range(30):
        server.info('%s - "WebSocket %s" [accepted]', f"127.0.0.1:{port}", "/ws/realtime/")
        server.info("connection open")
    server.info("Started server process [%d]", 42)
    records = _records(capsys)
    assert sum(r["message"].endswith("[accepted]") for r in records) == 20
    assert sum(r["message"] == "connection open" for r in records) == 20
    assert records[-1]["message"] == "Started server process [42]"  # other lines pass
    for burst in bursts.bursts.values():
        burst.summarize()
    counts = {r["message"]: r["suppressed"] for r in _records(capsys)}
    assert counts == {
        "WebSocket accepted: 10 more in the last 1 s (not logged one by one)": 10,
        "connection open: 10 more in the last 1 s (not logged one by one)": 10,
    }
