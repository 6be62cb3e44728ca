"""Reconnect storm: a node with 10,000 subscribed clients dies and comes back.

``python -m benchmarks.storm`` (run by ``make bench``; ``--quick`` by ``make bench-quick``).
A scaled-out cluster on this machine (:mod:`benchmarks.cluster`): ``redis-server``, two
nodes A and B (``python -m tickwire.serve``), the price feed process (simulator, each of
``--symbols`` assets one tick every ``--interval`` s). ``--clients`` clients subscribe on
node A and ``--others`` on node B, each to one symbol, each reconnecting and resuming as
``tickwire.client`` does (:mod:`benchmarks.resume_clients`: its backoff policy and its
session). Then node A is killed with SIGKILL (a crash: no drain, no close frame) and
started again at once on the same port. Measured:

* the restart: SIGKILL to node A listening again;
* the storm: from node A listening again to every client of A resumed (its ``subscribed``
  reply received on the new connection), with the median and p99 client;
* every stream: resumes answered ``recovered: true`` and ``recovered: false``, gaps the
  client announced, seq skips right after a ``recovered: true`` resume (nobody announced
  them: a defect), and skips within a live connection (the protocol's conflation for a
  client reading slower than its updates come, counted apart);
* node B's clients: latency p99 (source tick to receipt) in a window before the kill and
  from the kill to the end of the storm.

Nodes share the servers' core, everything else (Redis, the feed, both client processes)
the other; every process is stopped by its pid. Results go between the ``bench:storm``
markers of BENCHMARKS.md (or ``--output``).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cluster import Clients, NodeProc, phase_main, running

START = "<!-- bench:storm:start -->"
END = "<!-- bench:storm:end -->"
#: Targets: every client of the restarted node resumed within this long of it listening,
#: and the other node's p99 at most this much higher during the storm than before.
RESUME_TARGET_S = 10.0
DISTURB_TARGET_MS = 50.0


@dataclass
class Result:
    clients: int
    others: int
    connected: int = 0
    others_connected: int = 0
    restart_s: float | None = None  # SIGKILL to listening again
    all_resumed_s: float | None = None  # listening again to the last client resumed
    p50_resumed_s: float | None = None
    p99_resumed_s: float | None = None
    resumed: int = 0
    counters: dict[str, int] = field(default_factory=dict)  # the storm's: after - before
    before: dict[str, Any] = field(default_factory=dict)
    during: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def run(opts: argparse.Namespace, logs: Path) -> Result:
    result = Result(opts.clients, opts.others)
    try:
        with running("storm", logs, opts.symbols, opts.interval, min(opts.symbols, 100)) as cluster:
            calm = cluster.add(Clients("clients-b", logs, cluster.load_core, "resume"))
            storm = cluster.add(Clients("clients-a", logs, cluster.load_core, "resume"))
            print(f"bench: storm: {opts.others:,} clients on node B ...", flush=True)
            result.others_connected = int(
                calm.connect(cluster.b.ws_url, opts.others, cluster.names, 600)["ok"]
            )
            print(f"bench: storm: {opts.clients:,} clients on node A ...", flush=True)
            answer = storm.connect(cluster.a.ws_url, opts.clients, cluster.names, 900)
            result.connected = int(answer["ok"])
            if result.connected < opts.clients or result.others_connected < opts.others:
                result.error = (
                    f"only {result.connected:,}/{opts.clients:,} clients subscribed on node A and "
                    f"{result.others_connected:,}/{opts.others:,} on node B ({answer})"
                )
                return result
            time.sleep(opts.settle)
            initial = storm.ask("report", "report")
            calm.ask("reset", "ok")
            time.sleep(opts.before)
            result.before = calm.ask("report", "report")
            calm.ask("reset", "ok")
            print("bench: storm: SIGKILL node A, start it again on its port ...", flush=True)
            killed = time.monotonic()
            cluster.a.kill()
            a2 = cluster.add(NodeProc("node-a-restarted", cluster.env, logs, port=cluster.a.port))
            a2.start(cluster.server_core)
            back = a2.wait_listening()
            deadline = back + opts.timeout
            status: dict[str, Any] = {}
            while time.monotonic() < deadline:
                status = storm.ask(f"status {killed!r}", "status")
                if status["resumed"] >= opts.clients:
                    break
                time.sleep(0.2)
            result.during = calm.ask("report", "report")
            first = status.get("first_connected_at")
            if first is not None:
                back = min(back, first)  # a client may get in before the poll sees the port
            result.restart_s = back - killed
            result.resumed = int(status.get("resumed", 0))
            if status.get("last_resumed_at") is not None:
                result.all_resumed_s = status["last_resumed_at"] - back
                result.p50_resumed_s = status["resumed_p50_at"] - back
                result.p99_resumed_s = status["resumed_p99_at"] - back
            if result.resumed < opts.clients:
                result.error = (
                    f"{result.resumed:,}/{opts.clients:,} clients resumed within "
                    f"{opts.timeout:g} s of node A listening again"
                )
            # The missed updates follow each ``subscribed``: let them arrive before counting.
            time.sleep(opts.after)
            final = storm.ask("report", "report")
            result.counters = {
                k: v - initial.get(k, 0) for k, v in final.items() if isinstance(v, int)
            }
    except Exception as exc:  # reported; the run fails
        result.error = f"{type(exc).__name__}: {str(exc)[:500]}"
    return result


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f} s"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f} ms"


def render(r: Result, opts: argparse.Namespace) -> str:
    c = r.counters
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python "
        f"{sys.version.split()[0]}, {'quick' if opts.quick else 'full'} mode: "
        f"{r.clients:,} clients on node A, {r.others:,} on node B, each on one of "
        f"{opts.symbols} symbols ticking every {opts.interval:g} s "
        f"({opts.symbols / opts.interval:,.0f} ticks/s); nodes on one core, Redis, the feed "
        "and the clients on the other.",
        "",
    ]
    if r.error:
        lines += [f"**Failed:** {r.error}", ""]
    unannounced = c.get("skips_resume", 0)
    lines += [
        "| measure | figure |",
        "|---|---|",
        f"| node A restart (SIGKILL to listening again) | {_s(r.restart_s)} |",
        f"| clients of A resumed | {r.resumed:,}/{r.clients:,} |",
        f"| listening again to all resumed | {_s(r.all_resumed_s)} (median client "
        f"{_s(r.p50_resumed_s)}, p99 {_s(r.p99_resumed_s)}) |",
        f"| failed connection attempts during the storm | {c.get('failed_attempts', 0):,} |",
        f"| resumes answered `recovered: true` / `recovered: false` | "
        f"{c.get('recovered_true', 0):,} / {c.get('recovered_false', 0):,} |",
        f"| gaps announced to the client (`recovered: false`, `resync`) | "
        f"{c.get('gaps_announced', 0):,} |",
        f"| seq skips after a `recovered: true` resume (unannounced: a defect) | "
        f"{c.get('skips_resume', 0):,} |",
        f"| seq skips within a live connection (conflation: the client read slower than its "
        f"updates came) | {c.get('skips_live', 0):,} |",
        f"| duplicates dropped by the client | {c.get('duplicates', 0):,} |",
        f"| node B latency p50 / p99 / max before (ms) | {_ms(r.before.get('p50_ms'))} / "
        f"{_ms(r.before.get('p99_ms'))} / {_ms(r.before.get('max_ms'))} "
        f"({r.before.get('samples', 0):,} updates) |",
        f"| node B latency p50 / p99 / max during the storm (ms) | "
        f"{_ms(r.during.get('p50_ms'))} / {_ms(r.during.get('p99_ms'))} / "
        f"{_ms(r.during.get('max_ms'))} ({r.during.get('samples', 0):,} updates) |",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    ok = r.all_resumed_s is not None and r.resumed >= r.clients
    fast = ok and r.all_resumed_s is not None and r.all_resumed_s <= RESUME_TARGET_S
    lines.append(
        f"| storm: all {r.clients:,} clients resumed ≤ {RESUME_TARGET_S:g} s after the node "
        f"is back | {_s(r.all_resumed_s)} ({r.resumed:,} resumed) | {'yes' if fast else 'no'} |"
    )
    contiguous = ok and unannounced == 0 and not r.error
    lines.append(
        f"| storm: every stream contiguous or explicitly `recovered: false` | "
        f"{c.get('recovered_true', 0):,} recovered, "
        f"{c.get('recovered_false', 0):,} `recovered: false`, {unannounced:,} unannounced "
        f"skips at a resume ({c.get('skips_live', 0):,} conflated later, live) | "
        f"{'yes' if contiguous else 'no'} |"
    )
    bp, dp = r.before.get("p99_ms"), r.during.get("p99_ms")
    if bp is not None and dp is not None:
        lines.append(
            f"| storm: other node's clients p99 ≤ +{DISTURB_TARGET_MS:g} ms | {dp:.1f} ms "
            f"during vs {bp:.1f} ms before ({dp - bp:+.1f} ms) | "
            f"{'yes' if dp - bp <= DISTURB_TARGET_MS else 'no'} |"
        )
    else:
        lines.append(f"| storm: other node's clients p99 ≤ +{DISTURB_TARGET_MS:g} ms | - | no |")
    return "\n".join(lines)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.storm", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="2,000 clients on node A")
    parser.add_argument("--clients", type=int, help="clients on node A (10,000; quick 2,000)")
    parser.add_argument("--others", type=int, help="clients on node B (1,000; quick 200)")
    parser.add_argument("--symbols", type=int, default=100, help="assets ticking (100)")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between two ticks of an asset (1)"
    )
    parser.add_argument(
        "--before", type=float, help="seconds of node B latency before the kill (5; quick 3)"
    )
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds between subscribing and measuring (2)"
    )
    parser.add_argument(
        "--after", type=float, default=3.0, help="seconds to count updates after the storm (3)"
    )
    parser.add_argument(
        "--timeout", type=float, default=90.0, help="bound on the storm, seconds (90)"
    )
    parser.add_argument("--output", type=Path, help="Markdown file with the storm markers")
    opts = parser.parse_args(argv)
    if opts.clients is None:
        opts.clients = 2000 if opts.quick else 10_000
    if opts.others is None:
        opts.others = 200 if opts.quick else 1000
    if opts.before is None:
        opts.before = 3.0 if opts.quick else 5.0
    for name in ("clients", "others", "symbols", "interval", "before", "timeout"):
        if getattr(opts, name) <= 0:
            parser.error(f"--{name} must be positive")
    for name in ("settle", "after"):
        if getattr(opts, name) < 0:
            parser.error(f"--{name} must not be negative")
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse(sys.argv[1:] if argv is None else argv)
    return phase_main("storm", opts, run, render, (START, END))


if __name__ == "__main__":
    sys.exit(main())
