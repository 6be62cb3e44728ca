"""The deployment path end to end: feed process → Redis → two nodes → clients.

``python -m benchmarks.deployment`` (run by ``make bench``; ``--quick`` by
``make bench-quick``). The cluster of docs/scaling.md on this machine
(:mod:`benchmarks.cluster`): ``manage.py start_price_feed`` with the simulator over
``--symbols`` assets, each ticking every ``--interval`` s (500 every 0.05 s: 10,000
ticks/s), published through ``redis-server`` to two nodes (``python -m tickwire.serve``),
each with ``--clients`` clients (:mod:`benchmarks.resume_clients`, light mode), client i
subscribed to symbol i mod ``--symbols``. Every node thus subscribes to every channel and
receives the whole feed.

Measured over ``--seconds`` after ``--warmup``: latency p50/p99/max from the source's tick
(the time the simulator stamped it, carried as the update's ``timestamp``) to the
client's receipt, delivered updates/s against what the schedule offers, and each
process's CPU (user + system) over the window. ``--profile`` also samples node A and the
feed with py-spy for the window and lists where their time goes.

The nodes share one core, Redis, the feed and the clients the other; every process is
stopped by its pid. Results go between the ``bench:deployment`` markers of BENCHMARKS.md
(or ``--output``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cluster import Clients, phase_main, running
from .common import cpu_seconds

START = "<!-- bench:deployment:start -->"
END = "<!-- bench:deployment:end -->"
#: Target: p99 from the source's tick to the client's receipt, milliseconds.
P99_TARGET_MS = 20.0


@dataclass
class Result:
    clients: int
    connected: int = 0
    report: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # process → share of one core
    # process → share of the window it was runnable but waiting for a core (schedstat)
    waited: dict[str, float] = field(default_factory=dict)
    profiles: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    error: str | None = None


def run(opts: argparse.Namespace, logs: Path) -> Result:
    result = Result(2 * opts.clients)
    try:
        with running("deployment", logs, opts.symbols, opts.interval, opts.batch) as cluster:
            clients = cluster.add(Clients("clients", logs, cluster.load_core, "light"))
            for node in (cluster.a, cluster.b):
                print(f"bench: deployment: {opts.clients:,} clients on {node.name} ...", flush=True)
                result.connected += int(
                    clients.connect(node.ws_url, opts.clients, cluster.names, 600)["ok"]
                )
            if result.connected < result.clients:
                result.error = f"only {result.connected:,}/{result.clients:,} clients subscribed"
                return result
            time.sleep(opts.warmup)
            pids = {
                "node A": cluster.a.pid,
                "node B": cluster.b.pid,
                "feed": cluster.feed.pid,
                "redis-server": cluster.redis.pid,
                "clients": clients.pid,
            }
            spies = _profile(opts, logs, {"node A": cluster.a.pid, "feed": cluster.feed.pid})
            clients.ask("reset", "ok")
            cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
            wait0 = {name: run_delay(pid) for name, pid in pids.items()}
            t0 = time.monotonic()
            time.sleep(opts.seconds)
            result.report = clients.ask("report", "report")
            took = time.monotonic() - t0
            result.cpu = {
                name: (cpu_seconds(pid) - cpu0[name]) / took for name, pid in pids.items()
            }
            result.waited = {
                name: (run_delay(pid) - wait0[name]) / took for name, pid in pids.items()
            }
            for name, (spy, out) in spies.items():
                spy.wait(opts.seconds + 60)
                result.profiles[name] = _summary(out)
    except Exception as exc:  # reported; the run fails
        result.error = f"{type(exc).__name__}: {str(exc)[:500]}"
    return result


def run_delay(pid: int) -> float:
    """Seconds process ``pid`` (all its threads) spent runnable but waiting for a core,
    from /proc's schedstat (0 where the kernel keeps none)."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return total / 1e9


def _profile(
    opts: argparse.Namespace, logs: Path, pids: dict[str, int]
) -> dict[str, tuple[subprocess.Popen[bytes], Path]]:
    """py-spy on each of ``pids`` for the measured window (``--profile`` only)."""
    spies: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    if not opts.profile:
        return spies
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    for name, pid in pids.items():
        out = logs / f"profile-{name.replace(' ', '-')}.txt"
        args = [binary, "record", "--pid", str(pid), "--duration", f"{opts.seconds:.0f}"]
        args += ["--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"]
        spies[name] = (
            subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            out,
        )
    return spies


def _summary(path: Path, top: int = 8) -> list[tuple[str, float]]:
    """The functions the most samples of a py-spy raw profile were in (self time), with
    their share of the samples."""
    counts: Counter[str] = Counter()
    try:
        text = path.read_text()
    except OSError:
        return []
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]  # "function (path/file.py:line)"
        name, _, where = leaf.rpartition(" (")
        counts[f"{name or leaf} ({where.rsplit('/', 1)[-1]}"] += int(n)
    total = sum(counts.values())
    return [(name, n / total) for name, n in counts.most_common(top)] if total else []


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def render(r: Result, opts: argparse.Namespace) -> str:
    rep = r.report
    offered = opts.symbols / opts.interval
    per_client = 1 / opts.interval
    expected = r.clients * per_client
    delivered = rep.get("updates", 0) / rep["seconds"] if rep.get("seconds") else 0.0
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python "
        f"{sys.version.split()[0]}, {'quick' if opts.quick else 'full'} mode: the feed "
        f"process's simulator, {opts.symbols} symbols every {opts.interval:g} s "
        f"({offered:,.0f} ticks/s, batches of {opts.batch}) → redis-server → 2 nodes → "
        f"{opts.clients:,} clients each, one symbol per client; {opts.seconds:g} s measured "
        f"after {opts.warmup:g} s. Nodes on one core; Redis, the feed and the clients on the "
        "other.",
        "",
    ]
    if r.error:
        lines += [f"**Failed:** {r.error}", ""]
    lines += [
        "| clients | delivered updates/s (of offered) | latency ms, source tick → client: "
        "p50 / p99 / max | samples |",
        "|---|---|---|---|",
        f"| {r.connected:,} | {delivered:,.0f} ({delivered / expected:.0%} of {expected:,.0f}) | "
        f"{_ms(rep.get('p50_ms'))} / {_ms(rep.get('p99_ms'))} / {_ms(rep.get('max_ms'))} | "
        f"{rep.get('samples', 0):,} |",
        "",
    ]
    if r.cpu:
        lines.append(
            "CPU over the window (share of one core used / share of the window spent "
            "runnable but waiting for a core): "
            + ", ".join(
                f"{name} {share:.0%} / {r.waited.get(name, 0.0):.0%}"
                for name, share in r.cpu.items()
            )
            + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores."
        )
        lines.append("")
    for name, rows in r.profiles.items():
        if rows:
            lines.append(
                f"py-spy, {name} (self time): "
                + "; ".join(f"`{fn}` {share:.0%}" for fn, share in rows)
                + "."
            )
            lines.append("")
    p99 = rep.get("p99_ms")
    met = p99 is not None and p99 < P99_TARGET_MS and not r.error and delivered >= 0.9 * expected
    lines += [
        "| target | measured | met |",
        "|---|---|---|",
        f"| deployment path: p99 < {P99_TARGET_MS:g} ms, source tick → client, "
        f"{offered:,.0f} ticks/s, 2 nodes x {opts.clients:,} clients | "
        f"p99 {_ms(p99)} ms (p50 {_ms(rep.get('p50_ms'))}) | {'yes' if met else 'no'} |",
    ]
    return "\n".join(lines)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.deployment", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a short window")
    parser.add_argument("--clients", type=int, default=1000, help="clients per node (1,000)")
    parser.add_argument("--symbols", type=int, default=500, help="assets ticking (500)")
    parser.add_argument(
        "--interval", type=float, default=0.05, help="seconds between two ticks of an asset"
    )
    parser.add_argument(
        "--batch", type=int, default=50, help="ticks per publish (REALTIME_BATCH_SIZE, 50)"
    )
    parser.add_argument("--seconds", type=float, help="measured seconds (10; quick 4)")
    parser.add_argument("--warmup", type=float, help="seconds before measuring (3; quick 2)")
    parser.add_argument(
        "--profile", action="store_true", help="sample node A and the feed with py-spy"
    )
    parser.add_argument("--output", type=Path, help="Markdown file with the deployment markers")
    opts = parser.parse_args(argv)
    if opts.seconds is None:
        opts.seconds = 4.0 if opts.quick else 10.0
    if opts.warmup is None:
        opts.warmup = 2.0 if opts.quick else 3.0
    for name in ("clients", "symbols", "interval", "batch", "seconds"):
        if getattr(opts, name) <= 0:
            parser.error(f"--{name} must be positive")
    if opts.warmup < 0:
        parser.error("--warmup must not be negative")
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse(sys.argv[1:] if argv is None else argv)
    return phase_main("deployment", opts, run, render, (START, END))


if __name__ == "__main__":
    sys.exit(main())
