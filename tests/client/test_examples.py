"""The examples in examples/ run against a real server and do what they say."""

import os
import selectors
import signal
import subprocess
import sys
import time

import pytest

from tests.servers import ROOT

pytestmark = pytest.mark.e2e


def read_lines(proc, n, timeout=30.0):
    lines = []
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while len(lines) < n and time.monotonic() < deadline:
        if sel.select(timeout=0.5):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
    return lines


def env(**extra):
    e = {**os.environ, **extra}
    e.pop("DJANGO_SETTINGS_MODULE", None)
    return e


def test_seed000_running_mean_alert_fires_once_not_a_storm(server):
    proc = subprocess.Popen(
        [sys.executable, "examples/seed000_running_mean_alert.py", server.ws_url],
        cwd=ROOT, env=env(THRESHOLD="1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        lines = read_lines(proc, 25)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert len(lines) == 25, err
    # Every update is above 1: seed 000's script would print ALERT 25 times.
    alerts = [line for line in lines if "ALERT" in line]
    assert len(alerts) == 1 and "mean exceeded threshold" in alerts[0]
    assert (lines[0].startswith("[") and " price=" in lines[0]) or "ALERT" in lines[0]
    means = [float(line.rsplit("mean=", 1)[1]) for line in lines if "mean=" in line]
    assert len(means) == 24 and all(m > 1 for m in means)
    assert proc.returncode == 0 and "Traceback" not in err


def test_notebook_example_runs_top_to_bottom(server):
    done = subprocess.run(
        [sys.executable, "examples/notebook_example.py"],
        cwd=ROOT, env=env(TICKWIRE_URL=server.ws_url, SECONDS="1.5"), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "AAPL" in out and "MSFT" in out and "vwap" in out and "ewma" in out
