"""``tickwire serve`` starts a server that the client commands can use."""

import json
import os
import signal
import subprocess
import urllib.request

import pytest

from tests.cli.helpers import SCRIPT, tickwire, wait_for
from tests.servers import free_port

pytestmark = pytest.mark.e2e


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
