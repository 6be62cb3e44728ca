"""The valuation benchmark runs, checks the book against value_portfolio, serves a few
portfolios to real WebSocket clients and writes its block (its smallest configuration;
speed is not tested)."""

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
    args = ["--sizes", "100", "200", "--ticks", "300", "--flat", "5", "--sample", "50"]
    args += ["--e2e-portfolios", "10", "--e2e-seconds", "2"]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.valuation", *args, "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    assert "notes stay" in text and "\nold\n" not in text
    assert "50 sampled portfolios checked equal to `value_portfolio`" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 4 + 3 + 2, rows  # the largest size, the cost curve, end to end
    for row in rows[1:4]:  # baseline, throttled windows, flat out
        assert re.search(r"\| [\d,]+ \| [\d.]+x \|$", row), row
    assert re.search(r"Memory: [\d.]+ KiB RSS per portfolio held", text)
    for row, size in zip(rows[5:7], ("100", "200"), strict=True):
        assert row.startswith(f"| {size} | ") and row.endswith(" MiB |"), row
    # The server valued the ten followed portfolios, and their updates reached the clients.
    assert "(10 portfolios valued)" in text, text
    latency = r"\| 1 s throttle \| [\d.]+ ms \| [\d.]+ ms \| [\d.]+ ms \| (met|missed) \|"
    assert re.search(latency, text), text


def test_valuation_benchmark_rejects_a_count_below_one():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.valuation", "--sizes", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--sizes" in proc.stderr
