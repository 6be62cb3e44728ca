"""``tickwire alert`` end to end, against a real server process, a webhook and a command."""

import http.server
import json
import threading

import pytest

from tests.cli.helpers import tickwire
from tests.servers import free_port

pytestmark = pytest.mark.e2e


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


def test_alert_says_once_that_the_window_is_filling(server):
    done = tickwire("alert", "AAPL", "--url", server.ws_url, "--above", "1e12", "--window", "5",
                    "--duration", "1.5")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # nothing crossed the line
    assert done.stderr.count("waiting for 5 prices to fill the window") == 1, done.stderr
