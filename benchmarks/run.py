"""Run the fan-out benchmark: ``python -m benchmarks.run [--quick]`` (``make bench``).

For each server under test and each client count it starts the server pinned to one core
and the load generator pinned to the other, on loopback, and measures:

* memory per idle (connected, subscribed) connection and how many connections are held;
* end-to-end latency (publish to receipt) p50/p99/max at fixed offered loads;
* delivered updates/s at saturation (the publisher flat out) and the server's CPU time
  per delivered update (user + system, from /proc);
* for Tickwire, the same with batching on (``configure {"batch": true}``).

``tickwire-redis`` is Tickwire in scale-out mode: the harness starts its own
``redis-server`` (loopback, a free port, no persistence, on the load generator's core, never
the server's) and the node runs with ``--broker redis://127.0.0.1:PORT/0``, so every update
goes publisher → Redis (Lua publish script) → pub/sub → node → hub. It is reported against
the embedded (``memory://``) run of the same invocation.

Servers: ``tickwire`` (the product as ``make run`` serves it), ``tickwire-asgi`` (the same
without the direct-write front end), ``tickwire-redis`` (the product with the Redis broker),
``naive`` (seed 001's tutorial style), ``channels``
(Django Channels group_send), ``raw`` (picows writing pre-built frames: the practical
limit) and ``node-ws`` (Node.js with the npm ``ws`` library, :mod:`benchmarks.node_ws`).
Results go to BENCHMARKS.md (between its result markers) or ``--output``.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .common import cpu_seconds, cpu_times, rss_bytes, write_block
from .harness import ROOT, Proc, RedisProc, free_port
from .node_ws import node_ws_target, node_ws_unavailable

#: Offered load of the batched phase: above the 1M/s target, so meeting it is not an
#: artefact of rounding at the edge.
BATCHED_OFFERED = 1_200_000
ALL_SERVERS = [
    "tickwire",
    "tickwire-redis",
    "tickwire-asgi",
    "naive",
    "channels",
    "raw",
    "node-ws",
]
#: The servers the targets' ratios are computed from (more saturation tries each).
JUDGED = ("tickwire", "tickwire-redis", "raw", "node-ws")
START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"


@dataclass
class Phase:
    label: str
    offered: float  # updates/s offered (publications/s x clients)
    delivered: float  # updates/s received by the clients
    cpu_us: float | None  # server CPU per delivered update
    user_us: float | None  # of which user time (the server's own code; the rest is the kernel)
    p50: float | None
    p99: float | None
    max: float | None
    client_cpu: float  # load generator core utilisation, 0..1
    closed: dict[str, int] = field(default_factory=dict)


@dataclass
class Result:
    server: str
    clients: int
    connected: int = 0
    held: int = 0
    mem_per_conn: float | None = None
    open_at_end: int | None = None
    phases: dict[str, Phase] = field(default_factory=dict)
    error: str | None = None
    repeats: int = 1  # saturation phases run; the best is kept
    overloaded: bool = False  # the error is that it stopped answering under load (a result)


def server_args(
    name: str, port: int, workdir: Path, broker: str, redis_url: str | None = None
) -> list[str]:
    if name in ("tickwire", "tickwire-asgi", "tickwire-redis"):
        if name == "tickwire-redis":
            if redis_url is None:
                raise ValueError("tickwire-redis needs the harness's redis-server")
            broker = redis_url
        args = ["-m", "benchmarks.servers.tickwire_server", "--port", str(port)]
        args += ["--workdir", str(workdir), "--broker", broker]
        return args + (["--asgi"] if name == "tickwire-asgi" else [])
    module = {
        "naive": "naive_server",
        "channels": "channels_server",
        "raw": "raw_server",
        "node-ws": "node_ws_server",
    }[name]
    return ["-m", f"benchmarks.servers.{module}", "--port", str(port)]


def measure(
    name: str, clients: int, opts: argparse.Namespace, logs: Path, cores: tuple[int, int] | None
) -> Result:
    result = Result(name, clients)
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-", dir=logs))
    server = Proc(
        f"{name}-{clients}",
        server_args(name, port, workdir, opts.broker, opts.redis_url),
        logs,
        cores and cores[0],
    )
    loadgen: Proc | None = None
    try:
        server.expect("ready", timeout=120)
        time.sleep(0.3)
        rss0 = rss_bytes(server.pid)
        loadgen = Proc(
            f"loadgen-{name}-{clients}", ["-m", "benchmarks.loadgen"], logs, cores and cores[1]
        )
        loadgen.expect("ready")
        conn = loadgen.ask(
            f"connect ws://127.0.0.1:{port}/ws/realtime/ {clients}", "connected", 300
        )
        result.connected = int(conn["ok"])
        if conn["failed"]:
            result.error = f"{conn['failed']} connections failed: {conn['errors']}"
        if not result.connected:
            return result
        time.sleep(opts.idle)
        result.mem_per_conn = (rss_bytes(server.pid) - rss0) / result.connected
        result.held = int(loadgen.ask("report", "report")["open"])

        def phase(label: str, rate: float | None) -> None:
            result.phases[label] = run_phase(
                label, rate, server, loadgen, result.held, opts.seconds, opts.warmup
            )
            drain(loadgen, opts.drain)

        for load in opts.loads:
            phase(f"{load // 1000}k", load / result.held)
        # Best of several: other work on a shared machine only ever lowers a run, and on
        # loopback the kernel's cost per send moves between phases (BENCHMARKS.md), so the
        # servers the raw-limit, Redis-mode and node-ws ratios are judged on get more tries.
        best: Phase | None = None
        result.repeats = opts.repeat_judged if name in JUDGED else opts.repeat
        for _ in range(result.repeats):
            phase("saturation", None)
            sat = result.phases["saturation"]
            if best is None or sat.delivered > best.delivered:
                best = sat
        assert best is not None
        result.phases["saturation"] = best
        # Quick mode (< 2 minutes) runs the batched phases for the product as `make run`
        # serves it only; the Redis-mode target is judged on the unbatched saturation.
        if name == "tickwire" or (name.startswith("tickwire") and not opts.quick):
            loadgen.ask("batch", "batch", 60)
            phase("batched-1M", BATCHED_OFFERED / result.held)
            phase("batched-saturation", None)
        # "held" is what the idle process held; closes during the phases (4001 when an
        # overload phase leaves a client behind for too long) are reported per phase.
        result.open_at_end = int(loadgen.ask("report", "report")["open"])
    except TimeoutError as exc:
        result.overloaded = True
        done = ", ".join(result.phases) or "none"
        result.error = (
            f"stopped answering its control channel ({str(exc).splitlines()[0]}): overloaded; "
            f"phases completed: {done}"
        )
    except Exception as exc:  # one server failing must not lose the others' results
        result.error = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        if loadgen is not None:
            loadgen.stop()
        server.stop()
    return result


def run_phase(
    label: str,
    rate: float | None,
    server: Proc,
    loadgen: Proc,
    held: int,
    seconds: float,
    warmup: float,
) -> Phase:
    """Publish at ``rate`` updates/s per client (None: flat out), measure ``seconds`` after
    ``warmup``, stop publishing. The caller lets the clients drain before the next one."""
    server.ask(f"rate {rate:g}" if rate else "rate max", "ok")
    time.sleep(warmup)
    loadgen.ask("reset", "ok")
    pub0 = server.ask("stats", "stats")["published"]
    (user0, sys0), lcpu0, t0 = cpu_times(server.pid), cpu_seconds(loadgen.pid), time.monotonic()
    time.sleep(seconds)
    rep = loadgen.ask("report", "report")
    (user1, sys1), lcpu1, t1 = cpu_times(server.pid), cpu_seconds(loadgen.pid), time.monotonic()
    pub1 = server.ask("stats", "stats")["published"]
    server.ask("rate 0", "ok")
    updates = rep["updates"]
    cpu = user1 + sys1 - user0 - sys0
    return Phase(
        label,
        offered=(pub1 - pub0) * held / (t1 - t0),
        delivered=updates / rep["seconds"],
        cpu_us=cpu / updates * 1e6 if updates else None,
        user_us=(user1 - user0) / updates * 1e6 if updates else None,
        p50=rep["p50_ms"],
        p99=rep["p99_ms"],
        max=rep["max_ms"],
        client_cpu=(lcpu1 - lcpu0) / (t1 - t0),
        closed={str(k): v for k, v in rep["close_codes"].items()},
    )


def drain(loadgen: Proc, limit: float) -> None:
    """Wait (bounded) until the clients stop receiving, so phases do not overlap."""
    deadline = time.monotonic() + limit
    last = -1
    while time.monotonic() < deadline:
        now = loadgen.ask("count", "count")["updates"]
        if now == last:
            return
        last = now
        time.sleep(0.25)


# -- report ---------------------------------------------------------------------------------


def _n(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def _lat(p: Phase | None) -> str:
    if p is None or p.p50 is None:
        return "-"
    text = f"{_n(p.delivered / 1000, 0)}k: {_n(p.p50, 1)} / {_n(p.p99, 1)} / {_n(p.max, 0)}"
    if p.offered and p.delivered < 0.9 * p.offered:
        text += " (overloaded)"
    return text


def render(
    results: list[Result],
    opts: argparse.Namespace,
    cores: tuple[int, int] | None,
    took: float,
) -> str:
    out: list[str] = []
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out.append(
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{'quick' if opts.quick else 'full'} mode, {took:.0f} s. {os.cpu_count()} cores ({cpu}), "
        f"Linux {platform.release()}, Python {platform.python_version()}; "
        + (
            f"server on core {cores[0]}, clients on core {cores[1]}"
            + (" (redis-server too)" if opts.redis_url else "")
            if cores
            else "not pinned (one core)"
        )
        + (f"; tickwire-redis: redis-server {opts.redis_version}" if opts.redis_url else "")
        + f"; broker {opts.broker}; {opts.seconds:g} s per phase.\n"
    )
    out.append(f"Command: `python -m benchmarks.run {' '.join(opts.argv)}`".rstrip() + "\n")
    for clients in sorted({r.clients for r in results}):
        rows = [r for r in results if r.clients == clients]
        out.append(f"\n### {clients:,} clients\n")
        loads = [f"{load // 1000}k" for load in opts.loads]
        head = ["server", "delivered/s at saturation", "server CPU µs/update"]
        head += [f"latency ms at {lbl} offered (delivered/s: p50 / p99 / max)" for lbl in loads]
        head += ["memory/idle conn", "held"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for r in rows:
            sat = r.phases.get("saturation")
            cells = [
                f"**{r.server}**" if r.server == "tickwire" else r.server,
                _n(sat.delivered) if sat else "-",
                _n(sat.cpu_us, 1) if sat else "-",
            ]
            cells += [_lat(r.phases.get(lbl)) for lbl in loads]
            cells += [
                f"{r.mem_per_conn / 1024:.1f} KiB" if r.mem_per_conn is not None else "-",
                f"{r.held:,}/{r.clients:,}"
                + (
                    f" ({r.open_at_end:,} open after the overload phases)"
                    if r.open_at_end is not None and r.open_at_end < r.held
                    else ""
                ),
            ]
            out.append("| " + " | ".join(cells) + " |")
            for key in ("batched-1M", "batched-saturation"):
                p = r.phases.get(key)
                if p is not None:
                    lat = f"{_n(p.p50, 1)} / {_n(p.p99, 1)} / {_n(p.max, 0)}"
                    if key == "batched-saturation":
                        lat = "publisher flat out, latency not meaningful"
                    what = "fixed load" if key == "batched-1M" else "saturation"
                    out.append(
                        f"| {r.server}, batched, {what} | {_n(p.delivered)} | {_n(p.cpu_us, 2)} | "
                        f"{_n(p.offered)} offered: {lat} |" + " |" * (len(head) - 4)
                    )
        errors = [r for r in rows if r.error]
        for r in errors:
            out.append(f"\n{r.server}: {r.error}")
        busy = [
            f"{r.server} {p.label} ({p.client_cpu:.0%})"
            for r in rows
            for p in r.phases.values()
            if p.client_cpu > 0.9
        ]
        if busy:
            out.append(
                "\nLoad generator core above 90% (the client may be the limit): " + ", ".join(busy)
            )
        closes = [
            f"{r.server} {p.label}: {p.closed}" for r in rows for p in r.phases.values() if p.closed
        ]
        if closes:
            out.append("\nServer closes seen by clients: " + "; ".join(closes))
        out.append("")
        out.extend(ratios(rows))
    out.extend(targets(results))
    return "\n".join(out) + "\n"


def ratios(rows: list[Result]) -> list[str]:
    tw = next((r for r in rows if r.server == "tickwire"), None)
    sat = tw.phases.get("saturation") if tw else None
    if tw is None or sat is None:
        return []
    lines = [*redis_mode(rows), "Tickwire (unbatched) against each, at saturation:", ""]
    for r in rows:
        other = r.phases.get("saturation")
        if r is tw or r.server == "tickwire-redis" or other is None or not other.delivered:
            continue
        cpu = (
            f"; server CPU per update {sat.cpu_us:.2f} µs vs {other.cpu_us:.2f} µs"
            f" ({sat.cpu_us / other.cpu_us:.2f}x; user {_n(sat.user_us, 2)} vs"
            f" {_n(other.user_us, 2)} µs)"
            if other.cpu_us and sat.cpu_us
            else ""
        )
        lines.append(f"- vs {r.server}: {sat.delivered / other.delivered:.2f}x the updates/s{cpu}")
    return [*lines, ""]


def redis_mode(rows: list[Result]) -> list[str]:
    """'Redis mode vs embedded': the same node, its broker Redis instead of memory://."""
    tw = next((r for r in rows if r.server == "tickwire"), None)
    rd = next((r for r in rows if r.server == "tickwire-redis"), None)
    sat = tw.phases.get("saturation") if tw else None
    rsat = rd.phases.get("saturation") if rd else None
    if not (sat and rsat and sat.cpu_us and rsat.cpu_us and sat.delivered):
        return []
    return [
        "Redis mode vs embedded (tickwire-redis against tickwire, unbatched, at saturation): "
        f"{sat.cpu_us / rsat.cpu_us:.2f}x the updates per server CPU-second "
        f"({rsat.cpu_us:.2f} vs {sat.cpu_us:.2f} µs per update, of which user "
        f"{_n(rsat.user_us, 2)} vs {_n(sat.user_us, 2)}); "
        f"{rsat.delivered / sat.delivered:.2f}x in delivered/s "
        f"({rsat.delivered:,.0f} vs {sat.delivered:,.0f}).",
        "",
    ]


def targets(results: list[Result]) -> list[str]:
    def get(server: str, clients: int) -> Result | None:
        return next((r for r in results if r.server == server and r.clients == clients), None)

    tw, raw, ch = get("tickwire", 1000), get("raw", 1000), get("channels", 1000)
    lines = [
        "### Targets (one server process, 1,000 clients)",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]

    def row(target: str, measured: str, ok: bool | None) -> None:
        lines.append(
            f"| {target} | {measured} | "
            + ("yes" if ok else ("no" if ok is not None else "not measured"))
            + " |"
        )

    sat = tw.phases.get("saturation") if tw else None
    rsat = raw.phases.get("saturation") if raw else None
    csat = ch.phases.get("saturation") if ch else None
    if sat and rsat and sat.cpu_us and rsat.cpu_us:
        # Judged on server CPU per update: on a shared machine, how much of its core each
        # server got moves delivered/s by ±2x between runs; CPU per update hardly moves.
        by_cpu = rsat.cpu_us / sat.cpu_us
        by_wall = sat.delivered / rsat.delivered
        row(
            "unbatched ≥ 0.7x raw limit",
            f"{by_cpu:.2f}x per server CPU-second ({sat.cpu_us:.1f} vs {rsat.cpu_us:.1f} µs "
            f"per update, of which user {_n(sat.user_us, 2)} vs {_n(rsat.user_us, 2)}); "
            f"{by_wall:.2f}x in delivered/s (best of {tw.repeats if tw else '-'})",
            by_cpu >= 0.7,
        )
    else:
        row("unbatched ≥ 0.7x raw limit", "-", None)
    if sat and csat:
        cpu = (
            f"; {csat.cpu_us / sat.cpu_us:.0f}x per server CPU-second"
            if csat.cpu_us and sat.cpu_us
            else ""
        )
        row(
            "unbatched ≥ 20x Channels groups",
            f"{sat.delivered / csat.delivered:.1f}x in delivered/s{cpu}",
            sat.delivered >= 20 * csat.delivered,
        )
    else:
        row("unbatched ≥ 20x Channels groups", "-", None)
    p50k = tw.phases.get("50k") if tw else None
    if p50k and p50k.p99 is not None:
        ok = p50k.p99 < 25 and p50k.delivered >= 0.9 * p50k.offered
        row(
            "p99 < 25 ms at 50k updates/s",
            f"{p50k.p99:.1f} ms ({p50k.delivered:,.0f}/s delivered)",
            ok,
        )
    else:
        row("p99 < 25 ms at 50k updates/s", "-", None)
    b = tw.phases.get("batched-1M") if tw else None
    if b and b.p99 is not None:
        row(
            "batched ≥ 1M updates/s, p99 < 100 ms",
            f"{b.delivered:,.0f}/s, p99 {b.p99:.1f} ms",
            b.delivered >= 1_000_000 and b.p99 < 100,
        )
    else:
        row("batched ≥ 1M updates/s, p99 < 100 ms", "-", None)
    mems = [(r.held, r.mem_per_conn) for r in results if r.server == "tickwire" and r.mem_per_conn]
    if mems:
        # The largest measurement: fixed per-process costs spread thinnest there.
        count, mem = max(mems)
        row(
            "≤ 20 KiB per idle connection", f"{mem / 1024:.1f} KiB (at {count:,})", mem <= 20 * 1024
        )
    rd = get("tickwire-redis", 1000)
    dsat = rd.phases.get("saturation") if rd else None
    if sat and dsat and sat.cpu_us and dsat.cpu_us:
        # The same basis as the raw-limit ratio: updates per server CPU-second.
        by_cpu = sat.cpu_us / dsat.cpu_us
        row(
            "Redis mode ≥ 0.9x embedded per node",
            f"{by_cpu:.2f}x per server CPU-second ({dsat.cpu_us:.1f} vs {sat.cpu_us:.1f} µs "
            f"per update, of which user {_n(dsat.user_us, 2)} vs {_n(sat.user_us, 2)}); "
            f"{dsat.delivered / sat.delivered:.2f}x in delivered/s "
            f"(best of {rd.repeats if rd else '-'})",
            by_cpu >= 0.9,
        )
    else:
        row("Redis mode ≥ 0.9x embedded per node", "-", None)
    row(*node_ws_target(get))
    t10 = get("tickwire", 10000)
    if t10:
        row("10,000 connections in one process", f"{t10.held:,} held", t10.held >= 10000)
    else:
        row("10,000 connections in one process", "not run (quick mode)", None)
    return [*lines, ""]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="1,000 clients, short phases (< 2 min)"
    )
    parser.add_argument("--clients", type=int, nargs="+", help="client counts (default 1000 10000)")
    parser.add_argument("--servers", nargs="+", choices=ALL_SERVERS, help="servers to measure")
    parser.add_argument("--seconds", type=float, help="measured seconds per phase")
    parser.add_argument(
        "--loads",
        type=int,
        nargs="+",
        default=[20_000, 50_000, 100_000],
        help="fixed offered loads, updates/s",
    )
    parser.add_argument(
        "--broker",
        default="memory://",
        help="the broker of the tickwire and tickwire-asgi servers: memory:// (the embedded "
        "default) or redis://host:port/db; the publisher goes through it (tickwire-redis "
        "always uses the harness's own redis-server)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="write the results here (default: BENCHMARKS.md, full mode only)",
    )
    parser.add_argument(
        "--bars",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run the bars benchmark (benchmarks/bars.py; default: on in full mode)",
    )
    parser.add_argument(
        "--valuation",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the valuation benchmark (benchmarks/valuation.py: the book at 1,000 to "
        "100,000 portfolios and the valuer end to end; quick: up to 10,000, 300 clients)",
    )
    parser.add_argument(
        "--connections",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the connections benchmark (benchmarks/connections.py: capacity up to "
        "100,000, memory per connection, accept rate; quick: 2,000)",
    )
    parser.add_argument(
        "--ingest",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the ingestion benchmark (benchmarks/ingest.py; short in quick mode)",
    )
    for name, what in (
        ("storm", "the reconnect storm (benchmarks/storm.py; quick: 2,000 clients)"),
        ("deployment", "feed → Redis → two nodes → clients (benchmarks/deployment.py)"),
    ):
        parser.add_argument(
            f"--{name}",
            action=argparse.BooleanOptionalAction,
            default=True,
            help=f"also run {what}",
        )
    opts = parser.parse_args(argv)
    opts.argv = argv
    if opts.clients is None:
        opts.clients = [1000] if opts.quick else [1000, 10000]
    if any(c < 1 for c in opts.clients):
        parser.error("--clients must be positive")
    if opts.servers is None:
        opts.servers = [s for s in ALL_SERVERS if not (opts.quick and s == "tickwire-asgi")]
    if "node-ws" in opts.servers and (why := node_ws_unavailable()):
        parser.error(f"--servers node-ws: {why}")
    if opts.seconds is None:
        opts.seconds = 1.5 if opts.quick else 5.0
    if opts.seconds <= 0:
        parser.error("--seconds must be positive")
    opts.warmup = 0.5 if opts.quick else 1.0
    opts.repeat = 2 if opts.quick else 3
    opts.repeat_judged = 3 if opts.quick else 5
    opts.idle = 0.5 if opts.quick else 2.0
    opts.drain = 2.0 if opts.quick else 5.0
    if opts.output is None and not opts.quick:
        opts.output = ROOT / "BENCHMARKS.md"
    if opts.bars is None:
        opts.bars = not opts.quick
    return opts


def _cluster_phase(name: str, opts: argparse.Namespace) -> bool:
    """Run ``benchmarks.<name>`` in its own process; True when it failed."""
    print(f"bench: {name} (a Redis cluster of two nodes and the feed process) ...", flush=True)
    extra = ["--output", str(opts.output)] if opts.output is not None else []
    extra += ["--quick"] if opts.quick else []
    failed = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *extra], cwd=ROOT)
    if failed.returncode:
        print(f"bench: FAILED {name} benchmark", file=sys.stderr)
    return failed.returncode != 0


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through measure(), which stops its processes


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)  # also when started in the background
    opts = parse(argv)
    cores: tuple[int, int] | None = None
    avail = sorted(os.sched_getaffinity(0))
    if len(avail) >= 2:
        cores = (avail[0], avail[1])
    logs = Path(tempfile.mkdtemp(prefix="tickwire-bench-"))
    started = time.monotonic()
    results: list[Result] = []
    redis: RedisProc | None = None
    opts.redis_url = None
    try:
        if "tickwire-redis" in opts.servers:
            # On the load generator's core: the server's core stays the server's alone.
            redis = RedisProc(logs, cores and cores[1])
            opts.redis_url = redis.url
            opts.redis_version = redis.version()
            print(f"bench: redis-server {opts.redis_version} on 127.0.0.1:{redis.port}", flush=True)
        for clients in opts.clients:
            for name in opts.servers:
                print(f"bench: {name} with {clients:,} clients ...", flush=True)
                r = measure(name, clients, opts, logs, cores)
                sat = r.phases.get("saturation")
                print(
                    f"bench:   held {r.held:,}, saturation {sat.delivered:,.0f}/s"
                    if sat
                    else f"bench:   {r.error}",
                    flush=True,
                )
                results.append(r)
    finally:
        if redis is not None:
            redis.stop()
    table = render(results, opts, cores, time.monotonic() - started)
    print(table)
    if opts.output is not None:
        # The table ends with its newline; the block is put in without it.
        write_block(opts.output, START, END, table.removesuffix("\n"))
        print(f"bench: results written to {opts.output} (process logs in {logs})")
    bars_failed = False
    if opts.bars:
        # Its own process: it sets up Django on a temporary database.
        print("bench: bars (rollups at query time, demo history writes) ...", flush=True)
        extra = ["--output", str(opts.output)] if opts.output is not None else []
        bars = subprocess.run([sys.executable, "-m", "benchmarks.bars", *extra], cwd=ROOT)
        if bars.returncode:
            bars_failed = True
            print("bench: FAILED bars benchmark", file=sys.stderr)
    valuation_failed = False
    if opts.valuation:
        # Its own process: pinned to one core, its RSS is the book's alone.
        print("bench: valuation (incremental book against value_portfolio) ...", flush=True)
        extra = ["--output", str(opts.output)] if opts.output is not None else []
        extra += ["--quick"] if opts.quick else []
        cmd = [sys.executable, "-m", "benchmarks.valuation", *extra]
        valuation_failed = subprocess.run(cmd, cwd=ROOT).returncode != 0
        if valuation_failed:
            print("bench: FAILED valuation benchmark", file=sys.stderr)
    connections_failed = False
    if opts.connections:
        # Its own processes: a server per case, load generators as the open-file limit needs.
        print("bench: connections (capacity, memory per connection, accept rate) ...", flush=True)
        extra = ["--output", str(opts.output)] if opts.output is not None else []
        extra += ["--quick"] if opts.quick else []
        cmd = [sys.executable, "-m", "benchmarks.connections", *extra]
        connections_failed = subprocess.run(cmd, cwd=ROOT).returncode != 0
        if connections_failed:
            print("bench: FAILED connections benchmark", file=sys.stderr)
    ingest_failed = False
    if opts.ingest:
        # Its own process: it pins itself to one core and sets up Django on a temporary database.
        print("bench: ingest (ticks through the feed service flat out) ...", flush=True)
        extra = ["--output", str(opts.output)] if opts.output is not None else []
        extra += ["--quick"] if opts.quick else []
        ingest = subprocess.run([sys.executable, "-m", "benchmarks.ingest", *extra], cwd=ROOT)
        if ingest.returncode:
            ingest_failed = True
            print("bench: FAILED ingest benchmark", file=sys.stderr)
    # The cluster phases, each its own processes (Redis, two nodes, the feed, clients).
    cluster_failed = [
        name
        for name in ("storm", "deployment")
        if getattr(opts, name) and _cluster_phase(name, opts)
    ]
    # A peer that stops answering under load is a measurement (Channels at 10,000 clients);
    # anything else failing, or Tickwire failing at all, fails the run.
    failed = [
        r
        for r in results
        if r.error is not None and (r.server.startswith("tickwire") or not r.overloaded)
    ]
    for r in failed:
        print(f"bench: FAILED {r.server} with {r.clients:,} clients: {r.error}", file=sys.stderr)
    return (
        1
        if failed
        or bars_failed
        or valuation_failed
        or ingest_failed
        or connections_failed
        or cluster_failed
        else 0
    )


if __name__ == "__main__":
    sys.exit(main())
