"""Connections benchmark: how many idle, subscribed connections one Tickwire process holds,
what each costs in server memory, and how fast a burst of clients is accepted.

``python -m benchmarks.connections [--quick]`` (also run by ``make bench``; ``--quick`` by
``make bench-quick``). The server is the product as ``make run`` serves it
(``benchmarks/servers/tickwire_server.py``: uvicorn with the direct-write front end, DEBUG
off), pinned to one core; the load generators (:mod:`benchmarks.loadgen`, picows) are
pinned to the other. Every client subscribes to one symbol and then stays silent.

- **Capacity**: clients are added in steps towards ``--target`` (100,000; quick 2,000)
  until the target is reached or a step fails. Each client binds to a loopback source
  address before it connects (127.0.0.2, 127.0.0.3, ...: Linux routes all of 127/8 to
  ``lo``), at most ``--per-source`` per address, so one address's ephemeral ports do not cap
  the count; a new load-generator process is started whenever the open-file limit of the
  ones running is used up. Every process raises its open-file limit as far as it may. When
  a step fails, the server's open files are compared with its limit to say what stopped
  it. Server memory per connection (RSS growth / connections open) is taken at 1,000,
  10,000 and the count reached: the cost curve.
- **Accept rate**: a fresh server, ``--burst`` clients (10,000; quick 1,000) connecting at
  once: the time from the first connect to the last ``subscribed`` reply, as handshakes
  (handshake + subscribe) per second, and per second of server CPU.

Results go between the ``bench:connections`` markers of BENCHMARKS.md (or ``--output``).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import cpu_seconds, raise_nofile, rss_bytes, write_block
from benchmarks.harness import Proc, free_port
from benchmarks.run import server_args

START = "<!-- bench:connections:start -->"
END = "<!-- bench:connections:end -->"
#: Where the memory cost curve is read (and the count reached).
CHECKPOINTS = (1_000, 10_000)
#: Target memory per idle, subscribed connection, judged from this many connections on.
TARGET_BYTES = 10 * 1024
JUDGED_FROM = 10_000
#: File descriptors a load generator keeps for itself (stdio, the event loop, logs).
FD_RESERVE = 100


@dataclass
class Capacity:
    target: int
    held: int = 0
    #: (connections open, server RSS growth in bytes) at each checkpoint and at the end.
    curve: list[tuple[int, int]] = field(default_factory=list)
    stopped_by: str = ""
    loadgens: int = 0
    sources: int = 0
    seconds: float = 0.0


@dataclass
class Burst:
    clients: int
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0
    loadgen_cpu: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)


def source_address(index: int) -> str:
    """The ``index``-th loopback source address: 127.0.0.2, 127.0.0.3, ... 127.0.0.254,
    127.0.1.2, ... (never 127.0.0.1, the server's, nor a .0 or .255)."""
    rest, fourth = divmod(index, 253)
    second, third = divmod(rest, 256)
    return f"127.{second % 256}.{third}.{fourth + 2}"


def fresh_addresses() -> int:
    """Where this run's source addresses start. The ports a run used stay in TIME_WAIT for
    a minute after it, and a bind to port 0 never reuses one: consecutive runs (and the
    burst after the capacity run) take addresses no recent run took."""
    return random.randrange(1_000_000)


def ephemeral_ports() -> int:
    """How many ephemeral ports one source address has (``ip_local_port_range``)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(high) - int(low) + 1
    except (OSError, ValueError):
        return 28_232  # Linux's default range


def fd_limits(pid: int) -> tuple[int, int]:
    """The soft and hard open-file limits of process ``pid``."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise RuntimeError(f"no open-file limit in /proc/{pid}/limits")


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _nr_open() -> int:
    try:
        return int(Path("/proc/sys/fs/nr_open").read_text())
    except (OSError, ValueError):
        return 1 << 20


def _server(name: str, logs: Path, core: int | None) -> tuple[Proc, int]:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-", dir=logs))
    server = Proc(name, server_args("tickwire", port, workdir, "memory://"), logs, core)
    server.expect("ready", timeout=120)
    time.sleep(0.3)
    return server, port


def stop_reason(server_pid: int, errors: dict[str, int], total: int, failed: int) -> str:
    """What stopped the capacity run, from the server's side first."""
    soft, hard = fd_limits(server_pid)
    used = open_files(server_pid)
    what = f"{failed:,} connections failed after {total:,} ({', '.join(errors)[:160]})"
    if used >= soft - FD_RESERVE:
        fixed = (
            "hard limit, not raisable here"
            if soft >= hard and hard < _nr_open()
            else f"hard limit {hard:,}"
        )
        return f"the server's open-file limit, {soft:,} ({fixed}; {used:,} files open); {what}"
    return what


def capacity(
    target: int,
    per_source: int,
    idle: float,
    logs: Path,
    cores: tuple[int, int] | None,
    first_address: int = 0,
) -> Capacity:
    result = Capacity(target)
    server, port = _server("connections-capacity", logs, cores and cores[0])
    url = f"ws://127.0.0.1:{port}/ws/realtime/"
    loadgens: list[tuple[Proc, int]] = []  # (process, room left)
    started = time.monotonic()
    try:
        rss0 = rss_bytes(server.pid)
        stops = sorted({c for c in CHECKPOINTS if c < target} | {target})
        per_step = 10_000 if target > 10_000 else max(1, target // 5)
        total = 0
        address, on_address = 0, 0
        while total < target:
            boundary = next((c for c in stops if c > total), target)
            want = min(boundary - total, per_step)
            if not loadgens or loadgens[-1][1] <= 0:
                proc = Proc(
                    f"connections-loadgen-{len(loadgens) + 1}",
                    ["-m", "benchmarks.loadgen"],
                    logs,
                    cores and cores[1],
                )
                proc.expect("ready")
                room = int(proc.ask("limits", "limits")["fd_limit"]) - FD_RESERVE
                loadgens.append((proc, room))
            proc, room = loadgens[-1]
            if on_address >= per_source:
                address, on_address = address + 1, 0
            count = min(want, room, per_source - on_address)
            conn = proc.ask(
                f"connect {url} {count} concurrency=500 "
                f"sources={source_address(first_address + address)} buffer=1024",
                "connected",
                600,
            )
            ok, failed = int(conn["ok"]), int(conn["failed"])
            total += ok
            on_address += count
            loadgens[-1] = (proc, room - count)
            print(f"bench:   {total:,} connected", flush=True)
            if failed:
                time.sleep(idle)
                result.stopped_by = stop_reason(server.pid, conn["errors"], total, failed)
                break
            if total in stops and total < target:
                time.sleep(idle)
                result.curve.append((total, rss_bytes(server.pid) - rss0))
        result.seconds = time.monotonic() - started
        result.sources = address + 1
        result.loadgens = len(loadgens)
        time.sleep(idle)
        result.held = sum(int(p.ask("report", "report")["open"]) for p, _ in loadgens)
        if result.held:
            result.curve.append((result.held, rss_bytes(server.pid) - rss0))
        if not result.stopped_by:
            result.stopped_by = f"the target ({target:,}) was reached"
    finally:
        for proc, _ in loadgens:
            proc.stop()
        server.stop()
    return result


def burst(
    clients: int,
    sources: int,
    logs: Path,
    cores: tuple[int, int] | None,
    first_address: int = 0,
) -> Burst:
    result = Burst(clients)
    server, port = _server("connections-burst", logs, cores and cores[0])
    loadgen: Proc | None = None
    try:
        loadgen = Proc(
            "connections-burst-loadgen", ["-m", "benchmarks.loadgen"], logs, cores and cores[1]
        )
        loadgen.expect("ready")
        addresses = ",".join(source_address(first_address + i) for i in range(sources))
        cpu0, lcpu0 = cpu_seconds(server.pid), cpu_seconds(loadgen.pid)
        conn = loadgen.ask(
            # Every client waits as long as it takes (a client that gave up would never be
            # the last one subscribed): the bound is the phase's, 10 minutes.
            f"connect ws://127.0.0.1:{port}/ws/realtime/ {clients} concurrency={clients} "
            f"sources={addresses} buffer=1024 timeout=540",
            "connected",
            600,
        )
        result.server_cpu = cpu_seconds(server.pid) - cpu0
        result.loadgen_cpu = cpu_seconds(loadgen.pid) - lcpu0
        result.ok, result.failed = int(conn["ok"]), int(conn["failed"])
        result.seconds = float(conn["seconds"])
        result.errors = dict(conn["errors"])
    finally:
        if loadgen is not None:
            loadgen.stop()
        server.stop()
    return result


def render(cap: Capacity, acc: Burst, quick: bool) -> str:
    kib = 1024
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{'quick' if quick else 'full'} mode, Python {sys.version.split()[0]}; server on one "
        f"core, {cap.loadgens} load generator process(es) on the other, clients from "
        f"{cap.sources} loopback source address(es); idle clients, each subscribed to one symbol.",
        "",
        "| connections open | server RSS growth | per connection | per connection added since "
        "the row above |",
        "|---|---|---|---|",
    ]
    previous = (0, 0)
    for count, grown in cap.curve:
        added = count - previous[0]
        marginal = (
            f"{(grown - previous[1]) / added / kib:.1f} KiB"
            if previous[0] and added > 0
            else "- (includes the process's one-time costs)"
        )
        lines.append(
            f"| {count:,} | {grown / 2**20:,.1f} MiB | {grown / count / kib:.1f} KiB | {marginal} |"
        )
        previous = (count, grown)
    lines += [
        "",
        f"Capacity: asked for {cap.target:,}, **{cap.held:,} held** "
        f"({cap.seconds:.0f} s to connect); stopped by {cap.stopped_by}.",
        "",
    ]
    rate = acc.ok / acc.seconds if acc.seconds else 0.0
    per_cpu = acc.ok / acc.server_cpu if acc.server_cpu else 0.0
    lines.append(
        f"Accept rate: {acc.clients:,} clients connecting at once, {acc.ok:,} subscribed "
        f"in {acc.seconds:.2f} s from the first connect: **{rate:,.0f} handshakes/s**; "
        f"server CPU {acc.server_cpu:.2f} s ({per_cpu:,.0f} per server CPU-second), load "
        f"generator CPU {acc.loadgen_cpu:.2f} s"
        + (f"; {acc.failed:,} failed: {acc.errors}" if acc.failed else "")
        + "."
    )
    per = cap.curve[-1][1] / cap.curve[-1][0] if cap.curve else None
    if per is None:
        memory = "- | not measured"
    else:
        memory = f"{per / kib:.1f} KiB at {cap.curve[-1][0]:,} | "
        if cap.curve[-1][0] < JUDGED_FROM:
            # The process's one-time costs (threads, the database connection, caches) are
            # still a large share of each connection's figure at a few thousand.
            memory += f"not judged below {JUDGED_FROM:,}"
        else:
            memory += "yes" if per <= TARGET_BYTES else "no"
    held = (
        ("yes" if cap.held >= 100_000 else "no")
        if cap.target >= 100_000
        else f"not judged (asked for {cap.target:,})"
    )
    lines += [
        "",
        "| target | measured | met |",
        "|---|---|---|",
        f"| 100,000 connections in one process | {cap.held:,} held (asked for "
        f"{cap.target:,}); stopped by {cap.stopped_by} | {held} |",
        f"| ≤ 10 KiB of server memory per idle connection | {memory} |",
        f"| accept rate, {acc.clients:,} clients at once | {rate:,.0f} handshakes/s "
        f"({acc.ok:,} of {acc.clients:,} subscribed) | reported |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.connections", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="2,000 connections, a 1,000 burst")
    parser.add_argument("--target", type=int, help="connections to hold (100,000; quick 2,000)")
    parser.add_argument(
        "--burst", type=int, help="clients connecting at once (10,000; quick 1,000)"
    )
    parser.add_argument(
        "--per-source",
        type=int,
        help="clients per loopback source address (default: the ephemeral port range less 3,000)",
    )
    parser.add_argument(
        "--idle", type=float, help="seconds to settle before reading RSS (2; quick 1)"
    )
    parser.add_argument("--output", type=Path, help="Markdown file with the connections markers")
    opts = parser.parse_args(sys.argv[1:] if argv is None else argv)
    target = opts.target if opts.target is not None else (2_000 if opts.quick else 100_000)
    clients = opts.burst if opts.burst is not None else (1_000 if opts.quick else 10_000)
    per_source = opts.per_source if opts.per_source is not None else ephemeral_ports() - 3_000
    idle = opts.idle if opts.idle is not None else (1.0 if opts.quick else 2.0)
    if target < 1:
        parser.error("--target must be positive")
    if clients < 1:
        parser.error("--burst must be positive")
    if per_source < 1:
        parser.error("--per-source must be positive")
    if idle < 0:
        parser.error("--idle must not be negative")
    raise_nofile()
    avail = sorted(os.sched_getaffinity(0))
    cores = (avail[0], avail[1]) if len(avail) >= 2 else None
    logs = Path(tempfile.mkdtemp(prefix="tickwire-bench-connections-"))
    print(f"bench: connections: holding up to {target:,} ...", flush=True)
    first = fresh_addresses()
    cap = capacity(target, per_source, idle, logs, cores, first)
    print(f"bench:   held {cap.held:,}; stopped by {cap.stopped_by}", flush=True)
    print(f"bench: connections: {clients:,} clients at once ...", flush=True)
    acc = burst(clients, max(1, -(-clients // per_source)), logs, cores, first + cap.sources)
    block = render(cap, acc, opts.quick)
    print(block)
    if opts.output is not None:
        write_block(opts.output, START, END, block)
        print(f"bench: connections results written to {opts.output} (process logs in {logs})")
    return 0 if cap.held and acc.ok else 1


if __name__ == "__main__":
    sys.exit(main())
