"""The benchmark harness works end to end (its smallest configuration; speed is not tested)."""

import re
import socket
import subprocess
import sys

import pytest

from benchmarks.run import parse, server_args
from tests.servers import ROOT

pytestmark = pytest.mark.e2e


def test_smallest_benchmark_runs_and_reports_every_server(tmp_path):
    out = tmp_path / "BENCH.md"
    out.write_text(
        "# Benchmarks\n\nprofile notes stay\n\n<!-- bench:results:start -->\nold\n<!-- bench:results:end -->\n"
    )
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks.run", "--quick", "--clients", "20"),
            *("--seconds", "0.5", "--servers", "tickwire", "tickwire-redis", "raw"),
            *("--loads", "1000"),
            *("--output", str(out)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    assert "profile notes stay" in text and "\nold\n" not in text  # only the results block changes
    for server in ("**tickwire**", "tickwire-redis", "raw"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {server} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert re.fullmatch(r"[\d,]+", cells[1]) and int(cells[1].replace(",", "")) > 0, row
        assert cells[-1] == "20/20", row  # every client connected and held
    assert "| tickwire, batched, fixed load |" in text
    assert "### Targets" in text
    # Redis mode is reported against the embedded run, and its redis-server was stopped.
    assert re.search(r"Redis mode vs embedded .*: [\d.]+x the updates per server CPU-second", text)
    port = int(re.search(r"redis-server [\d.]+ on 127\.0\.0\.1:(\d+)", proc.stdout).group(1))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_bad_arguments_are_refused_clearly(capsys):
    with pytest.raises(SystemExit):
        parse(["--clients", "0"])
    assert "--clients must be positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(["--servers", "nginx"])
    assert "invalid choice" in capsys.readouterr().err


def test_redis_mode_needs_the_harness_redis():
    with pytest.raises(ValueError, match="redis-server"):
        server_args("tickwire-redis", 1, ROOT, "memory://")
    args = server_args("tickwire-redis", 1, ROOT, "memory://", "redis://127.0.0.1:2/0")
    assert args[args.index("--broker") + 1] == "redis://127.0.0.1:2/0"
