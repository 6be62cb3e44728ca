"""The valuation benchmark runs, checks the book against value_portfolio and writes its block
(its smallest configuration; speed is not tested)."""

import re
import subprocess
import sys

from tests.servers import ROOT


def test_valuation_benchmark_reports_the_book_against_its_baseline(tmp_path):
    out = tmp_path / "BENCH.md"
    out.write_text(
        "# Benchmarks\n\nnotes stay\n\n"
        "<!-- bench:valuation:start -->\nold\n<!-- bench:valuation:end -->\n"
    )
    args = ["--portfolios", "200", "--ticks", "300", "--flat", "5", "--sample", "50"]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.valuation", *args, "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    assert "notes stay" in text and "\nold\n" not in text
    assert "50 sampled portfolios checked equal to `value_portfolio`" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 4, rows  # header, baseline, throttled windows, flat out
    for row in rows[1:]:
        assert re.search(r"\| [\d,]+ \| [\d.]+x \|$", row), row
    assert re.search(r"Memory: [\d.]+ KiB RSS per portfolio held", text)


def test_valuation_benchmark_rejects_a_count_below_one():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.valuation", "--portfolios", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--portfolios" in proc.stderr
