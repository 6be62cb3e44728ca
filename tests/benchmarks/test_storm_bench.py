"""The reconnect-storm benchmark runs a small storm end to end and writes its block (a few
dozen clients; speed is not tested: only that every client resumed and no stream skipped a
seq unannounced)."""

import re
import subprocess
import sys

from tests.servers import ROOT


def test_storm_benchmark_kills_a_node_and_every_client_resumes_contiguous(tmp_path):
    out = tmp_path / "BENCH.md"
    out.write_text(
        "# Benchmarks\n\nnotes stay\n\n<!-- bench:storm:start -->\nold\n<!-- bench:storm:end -->\n"
    )
    args = ["--clients", "40", "--others", "10", "--symbols", "10", "--interval", "0.2"]
    args += ["--before", "1", "--settle", "0.5", "--after", "1", "--timeout", "60"]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.storm", *args, "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    assert "notes stay" in text and "\nold\n" not in text
    assert "| clients of A resumed | 40/40 |" in text
    assert re.search(r"node A restart \(SIGKILL to listening again\) \| [\d.]+ s", text)
    # Ticks every 0.2 s while the node is down: the resumes have updates to replay.
    recovered = re.search(r"`recovered: false` \| (\d+) / (\d+) \|", text)
    assert recovered and int(recovered[1]) + int(recovered[2]) >= 40, text
    assert "| seq skips after a `recovered: true` resume (unannounced: a defect) | 0 |" in text
    rows = [line for line in text.splitlines() if line.startswith("| storm: ")]
    assert len(rows) == 3, rows
    assert rows[1].endswith("| yes |"), rows[1]  # contiguous or announced: not a speed


def test_bad_options_are_refused_by_name():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.storm", "--clients", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--clients must be positive" in proc.stderr
