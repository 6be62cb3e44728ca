"""The connections benchmark holds its clients over several source addresses, writes its
block, and says what stopped it (tiny; speed is not tested)."""

import os
import re
import subprocess
import sys

import pytest

from benchmarks.connections import source_address, stop_reason
from tests.servers import ROOT

pytestmark = pytest.mark.e2e


def test_connections_benchmark_reports_capacity_memory_and_accept_rate(tmp_path):
    out = tmp_path / "BENCH.md"
    out.write_text(
        "# Benchmarks\n\nnotes stay\n\n"
        "<!-- bench:connections:start -->\nold\n<!-- bench:connections:end -->\n"
    )
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks.connections", "--target", "60"),
            *("--burst", "30", "--per-source", "25", "--idle", "0.2", "--output", str(out)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    assert "notes stay" in text and "\nold\n" not in text
    # 25 clients per address: 60 clients need three of them, and all 60 were held.
    assert "clients from 3 loopback source address(es)" in text
    assert "asked for 60, **60 held**" in text
    assert "stopped by the target (60) was reached" in text
    rows = re.findall(r"^\| ([\d,]+) \| [\d.]+ MiB \| ([\d.]+) KiB \|", text, re.M)
    assert rows and rows[-1][0] == "60", text
    assert re.search(
        r"30 clients connecting at once, 30 subscribed .*\*\*[\d,]+ handshakes/s\*\*", text
    )
    # A few dozen connections are mostly the process's one-time costs: reported, not judged.
    assert re.search(
        r"\| ≤ 10 KiB of server memory per idle connection \| [\d.]+ KiB at 60 \| "
        r"not judged below 10,000 \|",
        text,
    )
    assert "| 100,000 connections in one process | 60 held (asked for 60)" in text
    assert "was reached | not judged (asked for 60) |" in text


def test_a_run_stopped_by_the_servers_open_file_limit_says_so():
    # A process at its (hard) open-file limit, as the server is when it stops accepting.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import resource, sys, time\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (120, 120))\n"
            "files = [open('/dev/null') for _ in range(110)]\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        reason = stop_reason(holder.pid, {"WSError: EOF": 7}, 103, 7)
    finally:
        holder.kill()
        holder.wait(10)
    assert reason.startswith("the server's open-file limit, 120 (hard limit, not raisable here")
    assert "7 connections failed after 103 (WSError: EOF)" in reason


def test_failures_below_the_limit_are_reported_as_they_are():
    reason = stop_reason(os.getpid(), {"TimeoutError: handshake": 3}, 500, 3)
    assert reason == "3 connections failed after 500 (TimeoutError: handshake)"


def test_source_addresses_skip_the_servers_and_carry_into_the_next_octet():
    assert [source_address(i) for i in (0, 1, 252, 253, 253 * 256)] == [
        "127.0.0.2",
        "127.0.0.3",
        "127.0.0.254",
        "127.0.1.2",
        "127.1.0.2",
    ]


def test_bad_options_are_refused_by_name():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.connections", "--target", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--target must be positive" in proc.stderr
