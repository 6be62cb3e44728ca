"""The ``tickwire`` console script end to end, against a real server process."""

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from tests.servers import ROOT, free_port
from tickwire.cli import main
from tickwire.client.frames import read_recording

pytestmark = pytest.mark.e2e

SCRIPT = Path(sys.executable).with_name("tickwire")


def tickwire(*args, **kw):
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, **kw)  # fmt: skip


def spawn(*args, **kw):
    return subprocess.Popen([str(SCRIPT), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True, **kw)  # fmt: skip


def wait_for(check, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "COMMAND"),
        (["watch"], "SYMBOL"),
        (["stream", "bad sym!"], "not a valid symbol"),
        (["stream", "AAPL", "--url", "http://example.org/"], "not a WebSocket URL"),
        (["watch", "AAPL", "--window", "0"], "greater than 0"),
        (["alert", "AAPL"], "needs --above, --below or --cross"),
        (["alert", "AAPL", "--above", "1", "--below", "2"], "--below must not be greater"),
        (["alert", "AAPL", "--cross", "1", "--above", "2"], "cannot be combined"),
        (["alert", "AAPL", "--above", "nan"], "not a finite number"),
        (["alert", "AAPL", "--above", "1", "--webhook", "ftp://x"], "http:// or https://"),
        (["record", "AAPL"], "--out"),
        (["record", "AAPL", "--out", "ticks.xlsx"], ".parquet or .csv"),
        (["stream", "AAPL", "--retries", "-1"], "0 or more"),
        (["stream", "AAPL", "--raw", "--subscribe", "[1]"], "template must be a JSON object"),
    ],
)
def test_bad_arguments_get_a_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: tickwire" in err and message in err


def test_help_lists_every_command():
    out = tickwire("--help").stdout
    for command in ("watch", "stream", "record", "alert", "serve"):
        assert command in out


def test_stream_writes_ndjson(server):
    done = tickwire("stream", "AAPL", "MSFT", "--url", server.ws_url, "--count", "6",
                    "--heartbeat", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 6
    messages = [json.loads(line) for line in lines]
    assert {m["type"] for m in messages} == {"asset_update"}
    assert {m["data"]["symbol"] for m in messages} == {"AAPL", "MSFT"}
    assert all(isinstance(m["seq"], int) and m["data"]["price"] > 0 for m in messages)


def test_stream_into_a_pipe_that_closes_early_is_not_an_error(server):
    done = subprocess.run(
        f"'{SCRIPT}' stream AAPL --url {server.ws_url} | head -n 2; "
        'echo "status=${PIPESTATUS[0]}" >&2',
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert len(done.stdout.splitlines()) == 2
    assert "status=0" in done.stderr and "Traceback" not in done.stderr


def test_unknown_symbol_is_a_clear_error(server):
    done = tickwire("stream", "NOSUCH", "--url", server.ws_url)
    assert done.returncode == 1 and "unknown symbol: NOSUCH" in done.stderr


def test_unreachable_server_is_retried_with_clear_messages():
    url = f"ws://127.0.0.1:{free_port()}/ws/realtime/"
    done = tickwire("stream", "AAPL", "--url", url, "--retries", "2")
    assert done.returncode == 1
    assert done.stderr.count("connection refused (is the server running?); retrying in") == 2
    assert "gave up after 3 attempts" in done.stderr and "Traceback" not in done.stderr


def test_watch_shows_a_table_with_rolling_mean_and_change(server):
    done = tickwire("watch", "AAPL", "BTC-USD", "--url", server.ws_url, "--duration", "2",
                    "--window", "5", env={**os.environ, "COLUMNS": "120"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Mean(5)" in out and "Window Δ" in out and "Chg %" in out
    rows = [line for line in out.splitlines() if "AAPL" in line or "BTC-USD" in line]
    assert len(rows) >= 2
    cells = [c.strip() for c in rows[-1].split("│") if c.strip()]
    assert float(cells[1].replace(",", "")) > 0  # a price
    assert float(cells[4].replace(",", "")) > 0  # its rolling mean


def test_record_csv_survives_an_interrupt(server, tmp_path):
    out = tmp_path / "ticks.csv"
    proc = spawn("record", "AAPL", "MSFT", "--url", server.ws_url, "--out", str(out),
                 "--batch-size", "10", "--heartbeat", "1")  # fmt: skip
    try:
        wait_for(lambda: out.exists() and len(out.read_text().splitlines()) > 30, what="rows")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    frame = read_recording(out)
    assert set(frame["symbol"]) == {"AAPL", "MSFT"}
    assert f"recorded {len(frame)} rows to {out}" in stderr  # the last batch was written
    for _, rows in frame.groupby("symbol"):
        assert rows["seq"].is_monotonic_increasing and rows["seq"].is_unique
    assert not frame["gap_before"].any()


def test_record_csv_crash_loses_at_most_the_last_batch(server, tmp_path):
    out = tmp_path / "ticks.csv"
    proc = spawn("record", "AAPL", "--url", server.ws_url, "--out", str(out),
                 "--batch-size", "7", "--flush-seconds", "3600")  # fmt: skip
    try:
        wait_for(lambda: out.exists() and len(out.read_text().splitlines()) > 21, what="rows")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    frame = read_recording(out)
    assert len(frame) >= 21 and len(frame) % 7 == 0  # whole batches, every row complete
    assert frame["price"].notna().all() and frame["seq"].is_monotonic_increasing


def test_record_parquet_keeps_flushed_batches_after_a_crash(server, tmp_path):
    out = tmp_path / "ticks.parquet"
    parts = tmp_path / "ticks.parquet.parts"
    proc = spawn("record", "AAPL", "--url", server.ws_url, "--out", str(out),
                 "--batch-size", "5", "--heartbeat", "1")  # fmt: skip
    try:
        wait_for(lambda: len(list(parts.glob("part-*.parquet"))) >= 3, what="batches")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # a crash: no chance to finish the file
        proc.communicate(timeout=30)
    assert not out.exists()
    frame = read_recording(parts)
    assert len(frame) >= 15 and len(frame) % 5 == 0  # complete batches only
    assert frame["seq"].is_monotonic_increasing
    again = tickwire("record", "AAPL", "--url", server.ws_url, "--out", str(out))
    assert again.returncode == 1 and "interrupted recording" in again.stderr


def test_record_parquet_for_a_duration(server, tmp_path):
    out = tmp_path / "ticks.parquet"
    done = tickwire("record", "AAPL", "BTC-USD", "--url", server.ws_url, "--out", str(out),
                    "--duration", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    frame = pd.read_parquet(out)
    assert set(frame["symbol"]) == {"AAPL", "BTC-USD"} and len(frame) > 4
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert not (tmp_path / "ticks.parquet.parts").exists()
    refused = tickwire("record", "AAPL", "--url", server.ws_url, "--out", str(out))
    assert refused.returncode == 1 and "exists" in refused.stderr


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_alert_fires_the_webhook_and_the_command(server, tmp_path):
    hook = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=hook.serve_forever, daemon=True)
    thread.start()
    marker = tmp_path / "alert.json"
    try:
        done = tickwire(
            "alert", "AAPL", "--url", server.ws_url, "--above", "1", "--window", "3",
            "--once", "--webhook", f"http://127.0.0.1:{hook.server_port}/hook",
            "--exec", f'cat > {marker}; echo "$TICKWIRE_ALERT_SYMBOL $TICKWIRE_ALERT_KIND" >> {marker}',
        )  # fmt: skip
    finally:
        hook.shutdown()
    assert done.returncode == 0, done.stderr
    assert "ALERT AAPL: mean(3)" in done.stdout and "is above 1" in done.stdout
    [(ctype, payload)] = _Hook.received
    assert ctype == "application/json"
    assert payload["symbol"] == "AAPL" and payload["kind"] == "above" and payload["level"] == 1
    assert payload["value"] > 1 and payload["source"] == "mean(3)"
    text = marker.read_text().splitlines()
    assert json.loads(text[0]) == payload and text[1] == "AAPL above"


def test_alert_webhook_failure_is_reported_not_fatal(server):
    done = tickwire("alert", "AAPL", "--url", server.ws_url, "--above", "1", "--once",
                    "--webhook", f"http://127.0.0.1:{free_port()}/")  # fmt: skip
    assert done.returncode == 0
    assert "ALERT AAPL" in done.stdout and "webhook" in done.stderr and "failed" in done.stderr


def test_raw_mode_reads_another_json_feed(tmp_path):
    from websockets.sync.server import serve

    def feed(ws):
        sub = json.loads(ws.recv())
        for i in range(3):
            ws.send(json.dumps({"symbol": sub["symbol"], "price": 150.0 + i / 20}))
        ws.recv()  # until the client goes

    with serve(feed, "127.0.0.1", 0) as srv:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        url = f"ws://127.0.0.1:{srv.socket.getsockname()[1]}/"
        done = tickwire("stream", "DUMMY_INDEX", "--raw", "--url", url, "--count", "3")
        srv.shutdown()
    assert done.returncode == 0, done.stderr
    prices = [json.loads(line)["data"]["price"] for line in done.stdout.splitlines()]
    assert prices == [150.0, 150.05, 150.1]


def test_serve_starts_the_server(tmp_path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           "REALTIME_UPDATE_INTERVAL": "0.1"}  # fmt: skip
    env.pop("DJANGO_SETTINGS_MODULE", None)  # pytest-django's; a user's shell has none
    proc = subprocess.Popen([str(SCRIPT), "serve", "--port", str(port), "--log-level", "warning"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    def healthy():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/realtime/health/", timeout=1):
                return True
        except OSError:
            assert proc.poll() is None, proc.stdout.read().decode()
            return False

    try:
        wait_for(healthy, timeout=60, what="tickwire serve")
        done = tickwire("stream", "AAPL", "--url", f"ws://127.0.0.1:{port}/ws/realtime/",
                        "--count", "1")  # fmt: skip
        assert done.returncode == 0 and json.loads(done.stdout)["data"]["symbol"] == "AAPL"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
