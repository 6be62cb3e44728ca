"""The ingestion benchmark runs every mode and writes its block (tiny; speed is not tested)."""

import re
import subprocess
import sys

from tests.servers import ROOT


def test_ingest_benchmark_reports_each_mode_and_the_write_lag(tmp_path):
    out = tmp_path / "BENCH.md"
    out.write_text(
        "# Benchmarks\n\nnotes stay\n\n<!-- bench:ingest:start -->\nold\n<!-- bench:ingest:end -->\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.ingest",
            *("--seconds", "0.5", "--symbols", "20", "--batch", "50"),
            *("--db-seconds", "1", "--persist-interval", "0.2", "--output", str(out)),
            *("--curve", "30", "60", "--curve-seconds", "0.3"),
            *("--warmup", "0.2", "--curve-warmup", "0.1"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    assert "notes stay" in text and "\nold\n" not in text
    for mode in ("memory", "redis", "sqlite", "postgres"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {mode}"))
        assert re.search(r"\| [\d,]+ \| [\d,]+ \| [\d.]+x \|", row), row
    redis = next(line for line in text.splitlines() if line.startswith("| redis"))
    # feed CPU and Redis CPU per tick, ticks per CPU-second, the target and its verdict
    assert re.search(r"\| [\d.]+ \| [\d.]+ \| [\d,]+ \| ≥ 100,000 \| (met|missed) \|$", redis), (
        redis
    )
    assert "the synthetic source itself" in text
    for symbols in ("30", "60"):
        for mode in ("memory", "redis"):
            assert re.search(rf"^\| {symbols} \| {mode} \| [\d,]+ \| [\d.]+ \|", text, re.M), text
    for database in ("SQLite", "PostgreSQL"):
        assert re.search(
            rf"Database writes \({database}, .*\d+ quote writes, [\d,]+ bars written; "
            r"max write lag [\d.]+ s",
            text,
        ), text


def test_bad_options_are_refused_by_name():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.ingest", "--symbols", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--symbols must be positive" in proc.stderr
