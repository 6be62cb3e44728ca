"""The bars benchmark runs and writes its block (its smallest configuration; speed is not tested)."""

import re
import subprocess
import sys

from tests.servers import ROOT


def test_bars_benchmark_reports_every_interval_against_its_baseline(tmp_path):
    out = tmp_path / "BENCH.md"
    out.write_text(
        "# Benchmarks\n\nnotes stay\n\n<!-- bench:bars:start -->\nold\n<!-- bench:bars:end -->\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bars",
            "--days",
            "1",
            "--repeat",
            "1",
            "--output",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    assert "notes stay" in text and "\nold\n" not in text
    for interval in ("1m", "5m", "15m", "1h", "1d"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {interval} |"))
        assert re.search(r"\| [\d.]+x \|$", row), row
    assert re.search(r"Demo history, 43,200 bars .* [\d.]+x faster", text)
