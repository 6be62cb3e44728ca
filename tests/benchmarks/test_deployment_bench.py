"""The deployment-path benchmark runs feed → Redis → two nodes → clients and writes its
block (a few dozen clients, a short window; speed is not tested)."""

import re
import subprocess
import sys

from tests.servers import ROOT


def test_deployment_benchmark_measures_source_to_client_latency(tmp_path):
    out = tmp_path / "BENCH.md"
    out.write_text(
        "# Benchmarks\n\nnotes stay\n\n"
        "<!-- bench:deployment:start -->\nold\n<!-- bench:deployment:end -->\n"
    )
    args = ["--clients", "20", "--symbols", "20", "--interval", "0.1", "--seconds", "2"]
    args += ["--warmup", "1"]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.deployment", *args, "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    assert "notes stay" in text and "\nold\n" not in text
    # 40 clients, one update each every 0.1 s, all of them through the feed process.
    row = re.search(r"\| 40 \| ([\d,]+) \(\d+% of 400\) \| ([\d.]+) / ([\d.]+) / ([\d.]+) \|", text)
    assert row, text
    assert int(row[1].replace(",", "")) > 0 and float(row[2]) <= float(row[3])
    assert re.search(r"CPU over the window .*node A \d+% / \d+%.*feed \d+% / \d+%", text)
    assert re.search(r"\| deployment path: p99 < 20 ms.* \| p99 [\d.]+ ms .*\| (yes|no) \|", text)


def test_bad_options_are_refused_by_name():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.deployment", "--interval", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--interval must be positive" in proc.stderr
