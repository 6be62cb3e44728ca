"""The examples in examples/ run against a real server and do what they say: the script as
a subprocess, the notebook cell by cell in a real kernel (nbclient)."""

import base64
import json
import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlencode

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient

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


def plotted(values):
    """A plotly figure's array as a list: plain JSON, or the typed array plotly writes
    (``{"dtype": "f8", "bdata": <base64>}``)."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), np.dtype(values["dtype"])).tolist()
    return list(values)


def outputs(cell, kind=None):
    return [o for o in cell.outputs if kind is None or o.output_type == kind]


def printed(cell):
    """What a cell printed (stdout; a library's warning on stderr is not the cell's)."""
    return "".join(o.text for o in outputs(cell, "stream") if o.name == "stdout")


def figures(cell):
    return [o.data["application/vnd.plotly.v1+json"] for o in outputs(cell)
            if "application/vnd.plotly.v1+json" in o.get("data", {})]  # fmt: skip


def cell_with(nb, text):
    return next(c for c in nb.cells if c.cell_type == "code" and text in c.source)


def test_live_chart_notebook_plots_history_and_updates_a_chart_in_place(server, monkeypatch,
                                                                       tmp_path):  # fmt: skip
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    monkeypatch.setenv("TICKWIRE_URL", server.ws_url)
    monkeypatch.setenv("TICKWIRE_UPDATES", "40")
    monkeypatch.setenv("TICKWIRE_TIMEOUT", "60")
    nb = nbformat.read(ROOT / "examples" / "live_chart.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip

    # History: the candles are the bars the API returned for the same range.
    (candles, hourly) = figures(cell_with(nb, "go.Candlestick("))[0]["data"]
    assert candles["type"] == "candlestick" and len(candles["x"]) > 100
    query = urlencode({"interval": "5m", "start": candles["x"][0], "end": candles["x"][-1]})
    with urllib.request.urlopen(f"{server.url}/api/assets/BTC-USD/bars/?{query}", timeout=30) as r:
        api = json.load(r)["bars"]
    assert plotted(candles["close"]) == [float(b["close"]) for b in api]
    assert plotted(candles["high"]) == [float(b["high"]) for b in api]
    assert len(plotted(hourly["y"])) == len(api)
    assert printed(cell_with(nb, "history.bars(")).startswith(f"{len(api)} bars of BTC-USD at 5m")

    # Live: the widget is displayed once, and the streaming cell displays nothing new: it
    # changed the widget's data in place.
    widget = outputs(cell_with(nb, "go.FigureWidget("), "execute_result")[0]
    model_id = widget.data["application/vnd.jupyter.widget-view+json"]["model_id"]
    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    traces = state[model_id]["state"]["_widget_data"]
    assert [t["name"] for t in traces] == ["price", "mean of 20", "mean + 2 std", "mean - 2 std"]
    follow = cell_with(nb, "await follow()")
    assert not [o for o in outputs(follow) if o.output_type in ("display_data", "execute_result")]
    assert printed(follow) == "40 updates drawn; the chart holds 40 points\n"

    # What the live chart holds at the end (its static copy): 40 prices, and the rolling
    # mean and band of the last 20 of them at each point.
    price, mean, upper, lower = figures(cell_with(nb, "go.Figure(live)"))[0]["data"]
    prices = pd.Series(plotted(price["y"]))
    assert len(prices) == 40 and (prices > 0).all()
    assert plotted(mean["y"]) == pytest.approx(prices.rolling(20, min_periods=1).mean().tolist())
    assert all(u >= m >= lo for u, m, lo in zip(plotted(upper["y"]), plotted(mean["y"]),
                                                plotted(lower["y"]), strict=True))  # fmt: skip
    stats = printed(cell_with(nb, "stats_frame(stats)"))
    assert "BTC-USD" in stats and " 20 " in stats
