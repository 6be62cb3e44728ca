"""``tickwire stream`` end to end, against a real server process and scripted feeds."""

import json
import os
import signal
import subprocess
import threading
import time

import pytest
from websockets.sync.server import serve

from tests.cli.helpers import SCRIPT, Session, scripted_server, spawn, tickwire
from tests.servers import free_port

pytestmark = pytest.mark.e2e


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


def test_raw_mode_reads_another_json_feed(tmp_path):
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


#: A server that restarts (1012, no reason given) after one update, and resumes the stream.
RESTARTING = (
    Session({"AAPL": {"seq": 1, "epoch": "e1"}}, [("AAPL", 150.0, 1)], close=(1012, "")),
    Session({"AAPL": {"seq": 2, "epoch": "e1", "recovered": True}},
            [("AAPL", 150.5, 2), ("AAPL", 151.0, 3)]),
)  # fmt: skip


def test_stream_reports_each_retry_once():
    with scripted_server(*RESTARTING) as url:
        done = tickwire("stream", "AAPL", "--url", url, "--count", "3", "--no-batch")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["seq"] for line in done.stdout.splitlines()] == [1, 2, 3]
    assert done.stderr.count("retrying in") == 1, done.stderr
    assert done.stderr.count(f"connected to {url}") == 1, done.stderr


#: The same, but the server fails (1011, no reason given): a code without a message of its own.
FAILING = (
    Session({"AAPL": {"seq": 1, "epoch": "e1"}}, [("AAPL", 150.0, 1)], close=(1011, "")),
    RESTARTING[1],
)


def test_close_codes_are_printed_without_a_stray_space():
    with scripted_server(*FAILING) as url:
        done = tickwire("stream", "AAPL", "--url", url, "--count", "3", "--no-batch")
    assert "the server closed the connection (1011)" in done.stderr, done.stderr
    assert "(1011 )" not in done.stderr


def test_a_restarting_server_is_reconnected_to_at_once():
    with scripted_server(*RESTARTING) as url:
        done = tickwire("stream", "AAPL", "--url", url, "--count", "3", "--no-batch")
    assert "the server is restarting (1012); retrying in 0.0 s" in done.stderr, done.stderr


def test_ctrl_c_while_connecting_stops_quietly():
    url = f"ws://127.0.0.1:{free_port()}/ws/realtime/"
    proc = spawn("stream", "AAPL", "--url", url)
    try:
        time.sleep(1.5)  # a few attempts, and the next one pending
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert stderr.splitlines()[-1] == "tickwire: stopped before a connection was made", stderr
    assert "never retrieved" not in stderr and "Traceback" not in stderr


def test_raw_mode_passes_other_messages_on_as_they_came():
    def feed(ws):
        ws.send('{"type": "connection", "status": "ok"}')
        sub = json.loads(ws.recv())
        ws.send(json.dumps({"symbol": sub["symbol"], "price": 150.0}))
        for _ in ws:  # until the client goes
            pass

    with serve(feed, "127.0.0.1", 0) as srv:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        url = f"ws://127.0.0.1:{srv.socket.getsockname()[1]}/"
        done = tickwire("stream", "DUMMY_INDEX", "--raw", "--url", url, "--count", "1")
        srv.shutdown()
    assert done.returncode == 0, done.stderr
    first, update = (json.loads(line) for line in done.stdout.splitlines())
    assert first == {"type": "connection", "status": "ok"}
    assert update["type"] == "asset_update" and update["data"]["price"] == 150.0
