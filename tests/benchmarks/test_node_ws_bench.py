"""The node-ws peer (Node.js, npm ``ws``) starts, broadcasts and is measured like the others.

Its smallest configuration only; speed is not tested.
"""

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest
import websockets

from benchmarks.harness import Proc
from benchmarks.node_ws import node_ws_target, node_ws_unavailable
from benchmarks.run import Phase, Result, parse, server_args
from benchmarks.servers.node_ws_server import raw_message_bytes
from tests.servers import ROOT, free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        node_ws_unavailable() is not None, reason=f"node-ws peer: {node_ws_unavailable()}"
    ),
]


@pytest.fixture
def node_ws(tmp_path):
    port = free_port()
    core = sorted(os.sched_getaffinity(0))[0]
    server = Proc("node-ws", server_args("node-ws", port, tmp_path, "memory://"), tmp_path, core)
    try:
        server.expect("ready", timeout=30)
        yield server, port, core
    finally:
        server.stop()
        assert server.proc.poll() is not None


def test_node_ws_peer_broadcasts_the_raw_peers_frame_to_every_subscriber(node_ws):
    server, port, core = node_ws
    # The pid the harness measures is node's own, and every thread of it is pinned.
    assert os.readlink(f"/proc/{server.pid}/exe").endswith("node")
    for task in os.listdir(f"/proc/{server.pid}/task"):
        assert os.sched_getaffinity(int(task)) == {core}

    async def clients() -> list[list[dict]]:
        conns = [await websockets.connect(f"ws://127.0.0.1:{port}/ws/realtime/") for _ in range(3)]
        try:
            for ws in conns:
                await ws.send(json.dumps({"type": "subscribe_asset", "data": {"symbol": "AAPL"}}))
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert reply["type"] == "subscribed"
            assert server.ask("rate 50", "ok")["event"] == "ok"
            got: list[list[str]] = [[] for _ in conns]
            for frames, ws in zip(got, conns, strict=True):
                for _ in range(3):
                    frames.append(await asyncio.wait_for(ws.recv(), 10))
            server.ask("rate 0", "ok")
            return got
        finally:
            for ws in conns:
                await ws.close()

    got = asyncio.run(clients())
    for frames in got:
        updates = [json.loads(f) for f in frames]
        assert [u["type"] for u in updates] == ["asset_update"] * 3
        seqs = [u["seq"] for u in updates]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3
        assert updates[0]["data"]["symbol"] == "AAPL"
        assert abs(updates[0]["data"]["ts"] - time.time()) < 60  # a publish time, epoch seconds
        # The same payload as the raw peer's, within the publish time's last digits.
        assert all(abs(len(f) - raw_message_bytes()) <= 3 for f in frames), [len(f) for f in frames]
    assert server.ask("stats", "stats")["published"] >= 3
    with pytest.raises(RuntimeError, match="unknown command"):
        server.ask("rate fast", "ok")


def test_smallest_benchmark_of_node_ws_reports_its_row_and_target(tmp_path):
    out = tmp_path / "BENCH.md"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks.run", "--quick", "--clients", "10"),
            *("--seconds", "0.5", "--servers", "tickwire", "node-ws", "--loads", "500"),
            *("--output", str(out)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| node-ws |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert int(cells[1].replace(",", "")) > 0 and cells[-1] == "10/10", row
    assert "- vs node-ws: " in text
    target = next(line for line in text.splitlines() if "x node-ws updates per server" in line)
    # Judged at the counts it names only: a 10-client run measures neither.
    assert "1,000: not measured; 10,000: not measured | not measured |" in target


def test_node_ws_target_is_judged_on_cpu_per_update_at_each_count():
    def result(server: str, clients: int, cpu_us: float) -> Result:
        r = Result(server, clients)
        r.phases["saturation"] = Phase(
            "saturation", 0, 100_000, cpu_us, cpu_us / 2, None, None, None, 0.5
        )
        return r

    runs = {
        ("tickwire", 1000): result("tickwire", 1000, 4.0),
        ("node-ws", 1000): result("node-ws", 1000, 6.0),
    }
    target, measured, met = node_ws_target(lambda s, c: runs.get((s, c)))
    assert "1,000 and 10,000 clients" in target
    assert measured.startswith("1,000: 1.50x per server CPU-second") and met is True
    assert "10,000: not measured" in measured
    runs[("tickwire", 10000)] = result("tickwire", 10000, 8.0)
    runs[("node-ws", 10000)] = result("node-ws", 10000, 7.0)
    assert node_ws_target(lambda s, c: runs.get((s, c)))[2] is False
    assert node_ws_target(lambda s, c: None)[2] is None


def test_node_ws_without_its_package_is_refused_naming_the_fix(monkeypatch, capsys):
    monkeypatch.setenv("TICKWIRE_NODE", "")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SystemExit):
        parse(["--servers", "node-ws"])
    err = capsys.readouterr().err
    assert "--servers node-ws: node not found" in err and "nodejs" in err
