"""Ingestion benchmark: ticks through the real ``FeedService`` as fast as one core allows.

``python -m benchmarks.ingest`` (also run by ``make bench``; ``--quick`` in ``bench-quick``).
A synthetic source yields batches of ticks for ``--symbols`` symbols flat out (it only
yields to the event loop between batches, as a socket source does); the feed folds them
into quotes and 1-minute bars and publishes one ``asset_update`` per tick. The feed runs
in this process, pinned to one core; ``redis-server`` is pinned to the other. Modes:

- ``memory``: the in-process broker, quote and bar callbacks that write nothing;
- ``redis``: a real ``redis-server`` (``RedisBroker.enqueue_many``: one pipelined script
  call per 500 updates; seq, history, snapshot and pub/sub per update), with the CPU
  Redis itself used;
- ``sqlite``, ``postgres``: the memory broker with the product's persistence callbacks
  (``persist_quotes_async``, ``save_bars_async``) writing to a real SQLite file, or to a
  throwaway PostgreSQL cluster (:mod:`benchmarks.postgres`, run in a process of its own
  since Django holds one database per process; skipped when PostgreSQL is not
  installed), in Django's thread pool. Sampled every 0.25 s: dirty quotes, pending bars
  and the feed's write lag (``FeedService.write_lag``: the age of the oldest change not
  yet in the database). One run each; the throughput modes run ``--repeat`` interleaved
  rounds, best kept.

Besides ticks/s on the wall clock, each run reports the CPU the feed's process used per
tick (the source included; :func:`source_cost` measures the source alone) and, in Redis
mode, the CPU Redis used per tick. Ticks per CPU-second (the feed's, and in Redis mode the
lower of the feed's and Redis's: the two run side by side, publishes being pipelined) is
what one dedicated core each would carry, and what the targets are judged on: on a shared
machine the wall clock mostly measures the neighbours. ``--curve`` runs memory and Redis
mode at several symbol counts (the cost curve).

Tick times run on a market clock ``--market-speed`` times faster than the wall clock, so
1-minute bars close (and are written) within a short run. The results go between the
``bench:ingest`` markers of BENCHMARKS.md (or ``--output``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import write_block

ROOT = Path(__file__).resolve().parent.parent
START = "<!-- bench:ingest:start -->"
END = "<!-- bench:ingest:end -->"
MODES = ("memory", "redis", "sqlite", "postgres")
DATABASES = ("sqlite", "postgres")
_LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
#: The line a database-only child process reports its result on (see main()).
_RESULT = "bench-ingest-result: "
#: The targets of BENCHMARKS.md, ticks per second of one feed process.
TARGETS = {"memory": 200_000, "redis": 100_000}


def _setup(home: Path, symbols: list[str], database_url: str | None = None) -> None:
    """Django on a fresh database (a SQLite file unless given) with one asset per symbol."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "tickwire.settings.local"
    os.environ["TICKWIRE_HOME"] = str(home)
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{home / 'db.sqlite3'}"
    import django

    django.setup()
    from django.core.management import call_command

    from tickwire.assets.models import Asset

    call_command("migrate", interactive=False, verbosity=0)
    Asset.objects.bulk_create(
        [Asset(symbol=s, name=s, current_price=100, previous_close=100) for s in symbols]
    )


class SyntheticSource:
    """Batches of ticks as fast as they are taken: prices from a random walk over
    ``symbols``.

    The walk is computed up front (a cycle of 4,099 rounded prices; tick ``j`` of the run
    is symbol ``j mod len(symbols)`` at price ``j mod 4099``), so what the source costs per
    tick is building the ``Tick`` and little else: the benchmark measures the feed, and
    :func:`source_cost` reports what is left of the source's share.
    """

    name = "synthetic"

    def __init__(
        self,
        symbols: list[str],
        batch: int,
        seconds: float,
        speed: float,
        seed: int = 1,
        *,
        warmup: float = 0.0,
        on_measure: Callable[[], None] | None = None,
    ) -> None:
        self.symbols = symbols
        self.batch = batch
        self.seconds = seconds
        #: Seconds run before measuring (ticks, time and CPU count from then on).
        self.warmup = warmup
        self.on_measure = on_measure
        self.speed = speed
        rnd = random.Random(seed)
        walk, price = [], 100.0
        for _ in range(4099):
            price = round(price * (1.0 + rnd.uniform(-0.001, 0.001)), 2) or 0.01
            walk.append(price)
        self._walk = walk
        self.produced = 0
        self.elapsed = 0.0
        #: CPU seconds of this whole process (every thread) while the source ran.
        self.cpu = 0.0

    async def ticks(self) -> AsyncIterator[Sequence[Any]]:
        from tickwire.stream.feeds import Tick

        symbols, walk, batch = self.symbols, self._walk, self.batch
        # Both sequences repeated to cover a batch starting anywhere in their cycle.
        sym_cycle = symbols * (batch // len(symbols) + 2)
        walk_cycle = walk * (batch // len(walk) + 2)
        ns, nw = len(symbols), len(walk)
        i = 0
        t0 = time.time()
        cpu0 = time.process_time()
        started = measured = time.perf_counter()
        warming = self.warmup > 0
        deadline = started + self.warmup + self.seconds
        while True:
            now = time.perf_counter()
            if now >= deadline:
                break
            if warming and now >= started + self.warmup:
                # Warmed up (a memory broker's history full, every channel created): the
                # steady state is measured from here.
                warming = False
                measured, cpu0, self.produced = now, time.process_time(), 0
                if self.on_measure is not None:
                    self.on_measure()
            ts = t0 + (now - started) * self.speed
            a, b = i % ns, i % nw
            out = [
                Tick(sym, price, 1.0, ts)
                for sym, price in zip(
                    sym_cycle[a : a + batch], walk_cycle[b : b + batch], strict=True
                )
            ]
            i += batch
            self.produced += batch
            yield out
            await asyncio.sleep(0)  # a socket source awaits its next read here
        self.elapsed = time.perf_counter() - measured
        self.cpu = time.process_time() - cpu0


def _as_source(synthetic: SyntheticSource) -> Any:
    """``synthetic`` as a :class:`~tickwire.stream.feeds.Source` (imported lazily)."""
    from tickwire.stream.feeds.base import Source

    class _Source(Source):
        name = "synthetic"

        def ticks(self) -> AsyncIterator[Sequence[Any]]:
            return synthetic.ticks()

    return _Source()


@dataclass
class Result:
    mode: str
    ticks: int = 0
    seconds: float = 0.0
    published: int = 0
    redis_cpu: float | None = None
    #: CPU seconds of the feed's process while the source ran (source included).
    cpu: float = 0.0
    symbols: int = 0
    samples: list[tuple[float, int, int, float]] = field(default_factory=list)
    quote_writes: int = 0
    bars_written: int = 0
    write_max: float = 0.0
    error: str | None = None

    @property
    def rate(self) -> float:
        return self.ticks / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_tick(self) -> float:
        """Feed process CPU µs per tick, the synthetic source included."""
        return self.cpu / self.ticks * 1e6 if self.ticks else 0.0

    @property
    def redis_per_tick(self) -> float | None:
        if self.redis_cpu is None or not self.ticks:
            return None
        return self.redis_cpu / self.ticks * 1e6

    @property
    def cpu_rate(self) -> float:
        """Ticks per CPU-second: of the feed process, and (Redis mode) of Redis too, the
        lower of the two: the two run side by side on their own cores (publishes are
        pipelined), so this is what a dedicated core each would carry."""
        per = max(self.cpu_per_tick, self.redis_per_tick or 0.0)
        return 1e6 / per if per else 0.0


async def _noop(_items: list[Any]) -> None:
    return None


async def run_mode(
    mode: str,
    symbols: list[str],
    opts: argparse.Namespace,
    redis_url: str | None,
    on_measure: Callable[[], None] | None = None,
) -> Result:
    from tickwire.stream.brokers.memory import MemoryBroker
    from tickwire.stream.feeds import Instrument
    from tickwire.stream.feeds.service import FeedService

    result = Result(mode)
    broker: Any
    if mode == "redis":
        from tickwire.stream.brokers.redis import RedisBroker

        assert redis_url is not None
        broker = RedisBroker(redis_url, prefix=f"bench{os.getpid()}")
    else:
        broker = MemoryBroker()

    async def on_publication(*_args: Any) -> None:
        return None

    await broker.start(on_publication)
    seconds = opts.db_seconds if mode in DATABASES else opts.seconds
    synthetic = SyntheticSource(
        symbols,
        opts.batch,
        seconds,
        opts.market_speed,
        warmup=0.0 if mode in DATABASES else opts.warmup,
        on_measure=on_measure,
    )
    on_persist: Any = _noop
    on_bars: Any = _noop
    if mode in DATABASES:
        from tickwire.assets.bars import save_bars_async
        from tickwire.realtime.services import persist_quotes_async

        async def on_persist(quotes: list[Any]) -> None:
            began = time.time()
            await persist_quotes_async(quotes)
            result.quote_writes += 1
            result.write_max = max(result.write_max, time.time() - began)

        async def on_bars(bars: list[Any]) -> None:
            began = time.time()
            await save_bars_async(bars)
            result.bars_written += len(bars)
            result.write_max = max(result.write_max, time.time() - began)

    service = FeedService(
        broker,
        _as_source(synthetic),
        [Instrument(s, 100.0) for s in symbols],
        on_persist=on_persist,
        on_bars=on_bars,
        persist_interval=opts.persist_interval,
    )
    started = time.time()

    async def sample() -> None:
        while True:
            await asyncio.sleep(0.25)
            now = time.time()
            dirty = sum(1 for q in service.quotes.values() if q.dirty)
            pending = service.status()["bars_pending"]
            assert isinstance(pending, int)
            result.samples.append((now - started, dirty, pending, service.write_lag(now)))

    sampler = asyncio.ensure_future(sample()) if mode in DATABASES else None
    try:
        task = service.start()
        await asyncio.wait_for(task, seconds + 30)
    finally:
        if sampler is not None:
            sampler.cancel()
        await asyncio.wait_for(service.stop(), 60)
        await broker.close()
    result.ticks = synthetic.produced
    result.seconds = synthetic.elapsed
    result.cpu = synthetic.cpu
    result.symbols = len(symbols)
    result.published = service.published
    return result


def measure(opts: argparse.Namespace, home: Path) -> list[Result]:
    """Run each mode in turn (the feed on one core, Redis on the other)."""
    cores = sorted(os.sched_getaffinity(0))
    feed_core = cores[0]
    other = cores[1] if len(cores) > 1 else None
    os.sched_setaffinity(0, {feed_core})
    symbols = [f"S{i:04d}" for i in range(opts.symbols)]
    postgres: Any = None
    if "postgres" in opts.modes:
        # Django holds one database per process: main() runs this mode in a process of its own.
        from benchmarks.postgres import PostgresServer

        # Its own directory directly under /tmp: the cluster runs as the postgres user, who
        # must reach it (``home`` is private to this user).
        pg_dir = Path(tempfile.mkdtemp(prefix="tickwire-bench-pg-"))
        postgres = PostgresServer(pg_dir)
        try:
            postgres.start()
            if other is not None and postgres.proc is not None:
                os.sched_setaffinity(postgres.proc.pid, {other})
            _setup(home, symbols, postgres.create_database("bench_ingest"))
        except BaseException:
            postgres.stop()
            shutil.rmtree(pg_dir, ignore_errors=True)
            raise
    else:
        _setup(home, symbols)
    try:
        return _rounds(opts, home, symbols, other)
    finally:
        if postgres is not None:
            from django.db import connections

            connections.close_all()
            postgres.stop()
            shutil.rmtree(postgres.workdir, ignore_errors=True)


def _one(
    mode: str, symbols: list[str], opts: argparse.Namespace, home: Path, other: int | None
) -> Result:
    """One run of ``mode`` (with a redis-server of its own in Redis mode, stopped by pid)."""
    from benchmarks.common import cpu_seconds
    from benchmarks.harness import RedisProc

    redis = RedisProc(home, other) if mode == "redis" else None
    try:
        before = [cpu_seconds(redis.pid) if redis else 0.0]

        def measuring() -> None:
            if redis is not None:
                before[0] = cpu_seconds(redis.pid)

        url = redis.url if redis else None
        r = asyncio.run(run_mode(mode, symbols, opts, url, measuring))
        if redis is not None:
            r.redis_cpu = cpu_seconds(redis.pid) - before[0]
    finally:
        if redis is not None:
            redis.stop()
    print(
        f"bench:   {r.rate:,.0f} ticks/s, {r.cpu_per_tick:.2f} µs feed CPU per tick"
        + (f", {r.redis_per_tick:.2f} µs Redis CPU" if r.redis_per_tick is not None else ""),
        flush=True,
    )
    return r


def _rounds(
    opts: argparse.Namespace, home: Path, symbols: list[str], other: int | None
) -> list[Result]:
    best: dict[str, Result] = {}
    # Rounds interleave the modes, so a neighbour's load falls on all of them alike; the
    # throughput modes keep their best round, the database mode runs once (its lag counts).
    for round_ in range(opts.repeat):
        for mode in opts.modes:
            if mode in DATABASES and round_:
                continue
            took = opts.db_seconds if mode in DATABASES else opts.seconds
            print(f"bench: ingest {mode} ({took:g} s) ...", flush=True)
            r = _one(mode, symbols, opts, home, other)
            if mode not in best or r.cpu_rate > best[mode].cpu_rate:
                best[mode] = r
    return [best[m] for m in opts.modes]


def cost_curve(opts: argparse.Namespace, home: Path) -> list[Result]:
    """Memory and Redis mode at each of ``opts.curve`` symbol counts (one short run each)."""
    # measure() pinned this process to the feed's core: Redis goes on another.
    others = sorted(set(range(os.cpu_count() or 1)) - os.sched_getaffinity(0))
    other = others[0] if others else None
    run_opts = argparse.Namespace(
        **{**vars(opts), "seconds": opts.curve_seconds, "warmup": opts.curve_warmup}
    )
    out = []
    for n in opts.curve:
        symbols = [f"S{i:06d}" for i in range(n)]
        for mode in ("memory", "redis"):
            print(f"bench: ingest curve {mode}, {n:,} symbols ...", flush=True)
            out.append(_one(mode, symbols, run_opts, home, other))
    return out


def source_cost(opts: argparse.Namespace) -> float:
    """CPU µs per tick of the synthetic source alone (no feed), for the report."""
    symbols = [f"S{i:04d}" for i in range(opts.symbols)]
    synthetic = SyntheticSource(symbols, opts.batch, min(opts.seconds, 2.0), opts.market_speed)

    async def drain() -> None:
        async for _ in synthetic.ticks():
            pass

    asyncio.run(drain())
    return synthetic.cpu / synthetic.produced * 1e6 if synthetic.produced else 0.0


def _verdict(r: Result) -> str:
    target = TARGETS.get(r.mode)
    if target is None:
        return "-"
    return "met" if r.cpu_rate >= target else "missed"


def render(
    results: list[Result],
    opts: argparse.Namespace,
    source_cpu: float | None = None,
    curve: list[Result] | None = None,
) -> str:
    by = {r.mode: r for r in results}
    mem = by.get("memory")
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python "
        f"{sys.version.split()[0]}, {'quick' if opts.quick else 'full'} mode: "
        f"{opts.symbols} symbols, batches of {opts.batch}, {opts.seconds:g} s per run measured "
        f"after {opts.warmup:g} s of warm-up (the database modes: from the start), best of "
        f"{opts.repeat} interleaved rounds (the database mode: one run), "
        f"the feed pinned to one core (Redis on the other); market clock x{opts.market_speed:g}.",
        "",
        "| mode | ticks | ticks/s (wall) | vs memory | feed CPU µs/tick | Redis CPU µs/tick "
        "| ticks per CPU-second | target | |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = f"{r.rate / mem.rate:.2f}x" if mem and mem.rate else "-"
        target = TARGETS.get(r.mode)
        redis = f"{r.redis_per_tick:.2f}" if r.redis_per_tick is not None else "-"
        lines.append(
            f"| {r.mode} | {r.ticks:,} | {r.rate:,.0f} | {ratio} | {r.cpu_per_tick:.2f} | "
            f"{redis} | {r.cpu_rate:,.0f} | {'-' if target is None else f'≥ {target:,}'} | "
            f"{_verdict(r)} |"
        )
    if source_cpu is not None:
        lines += [
            "",
            f"Of the feed CPU per tick, the synthetic source itself (building the `Tick`s, "
            f"measured alone): {source_cpu:.2f} µs.",
        ]
    if curve:
        lines += [
            "",
            f"Cost curve (batches of {opts.batch}, {opts.curve_seconds:g} s per run after "
            f"{opts.curve_warmup:g} s of warm-up, one run each): how the cost per tick grows "
            "with the symbols ticking.",
            "",
            "| symbols | mode | ticks/s (wall) | feed CPU µs/tick | Redis CPU µs/tick "
            "| ticks per CPU-second |",
            "|---|---|---|---|---|---|",
        ]
        for r in curve:
            redis = f"{r.redis_per_tick:.2f}" if r.redis_per_tick is not None else "-"
            lines.append(
                f"| {r.symbols:,} | {r.mode} | {r.rate:,.0f} | {r.cpu_per_tick:.2f} | {redis} "
                f"| {r.cpu_rate:,.0f} |"
            )
    for db in (by.get(name) for name in DATABASES):
        if db is None or not db.samples:
            continue
        lag = max(s[3] for s in db.samples)
        dirty = max(s[1] for s in db.samples)
        pending = max(s[2] for s in db.samples)
        lines += [
            "",
            f"Database writes ({_LABELS[db.mode]}, {opts.db_seconds:g} s, persist every "
            f"{opts.persist_interval:g} s, off the "
            f"event loop): {db.quote_writes} quote writes, {db.bars_written:,} bars written; "
            f"max write lag {lag:.2f} s, max dirty quotes {dirty:,}, max pending bars "
            f"{pending:,}, longest single write {db.write_max:.2f} s.",
            "",
            "| t (s) | dirty quotes | pending bars | write lag (s) |",
            "|---|---|---|---|",
        ]
        step = max(1, len(db.samples) // 10)
        for t, d, p, lg in db.samples[::step]:
            lines.append(f"| {t:.1f} | {d:,} | {p:,} | {lg:.2f} |")
    return "\n".join(lines)


def _postgres(opts: argparse.Namespace) -> list[Result]:
    """The PostgreSQL mode in a process of its own (Django holds one database per process);
    nothing when no PostgreSQL is installed."""
    from benchmarks.postgres import installed

    if not installed():
        print("bench: ingest postgres skipped: no PostgreSQL installed", flush=True)
        return []
    args = [
        *("--modes", "postgres", "--report-result", "--symbols", str(opts.symbols)),
        *("--batch", str(opts.batch), "--db-seconds", str(opts.db_seconds)),
        *(
            "--market-speed",
            str(opts.market_speed),
            "--persist-interval",
            str(opts.persist_interval),
        ),
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.ingest", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        timeout=opts.db_seconds + 300,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(_RESULT):
            rows = json.loads(line[len(_RESULT) :])
            return [
                Result(**{**row, "samples": [tuple(x) for x in row["samples"]]}) for row in rows
            ]
        print(line, flush=True)
    raise RuntimeError(f"the PostgreSQL run failed (exit {proc.returncode})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ingest", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="one short round (2 s per mode)")
    parser.add_argument("--seconds", type=float, help="measured seconds per run (5; quick 2)")
    parser.add_argument("--symbols", type=int, default=500, help="symbols ticking (500)")
    parser.add_argument("--batch", type=int, default=500, help="ticks per batch (500)")
    parser.add_argument(
        "--market-speed", type=float, default=60.0, help="market clock speed-up (60)"
    )
    parser.add_argument(
        "--persist-interval", type=float, default=2.0, help="feed persist interval, s (2)"
    )
    parser.add_argument("--repeat", type=int, help="interleaved rounds, best kept (3; quick 1)")
    parser.add_argument(
        "--db-seconds", type=float, help="seconds of the database mode (15; quick 4)"
    )
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument(
        "--curve",
        type=int,
        nargs="*",
        help="symbol counts of the cost curve, memory and Redis mode (1000 10000 100000; "
        "quick 1000 10000; none: no curve)",
    )
    parser.add_argument(
        "--curve-seconds", type=float, help="seconds per cost-curve run (2; quick 1)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        help="seconds run before measuring memory and Redis mode (3; quick 1): a memory "
        "broker's history of 1,000 per channel fills, then the steady state is measured",
    )
    parser.add_argument(
        "--curve-warmup",
        type=float,
        help="seconds run before measuring each cost-curve run (2; quick 1): every channel "
        "exists by then",
    )
    parser.add_argument("--report-result", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help="Markdown file with the ingest markers")
    opts = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if opts.seconds is None:
        opts.seconds = 2.0 if opts.quick else 5.0
    if opts.db_seconds is None:
        opts.db_seconds = 4.0 if opts.quick else 15.0
    if opts.repeat is None:
        opts.repeat = 1 if opts.quick else 3
    if opts.curve is None:
        opts.curve = [1000, 10000] if opts.quick else [1000, 10000, 100000]
    if opts.curve_seconds is None:
        opts.curve_seconds = 1.0 if opts.quick else 2.0
    if opts.warmup is None:
        opts.warmup = 1.0 if opts.quick else 3.0
    if opts.curve_warmup is None:
        opts.curve_warmup = 1.0 if opts.quick else 2.0
    if opts.warmup < 0 or opts.curve_warmup < 0:
        parser.error("--warmup and --curve-warmup must be 0 or more")
    if any(n <= 0 for n in opts.curve):
        parser.error("--curve symbol counts must be positive")
    for name in (
        "seconds",
        "db_seconds",
        "repeat",
        "symbols",
        "batch",
        "market_speed",
        "persist_interval",
        "curve_seconds",
    ):
        if getattr(opts, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    here = [m for m in opts.modes if m != "postgres"] or opts.modes
    later = [m for m in opts.modes if m not in here]
    curve: list[Result] = []
    source_cpu = None
    with tempfile.TemporaryDirectory(prefix="tickwire-bench-ingest-") as home:
        results = measure(argparse.Namespace(**{**vars(opts), "modes": here}), Path(home))
        if opts.report_result:
            print(_RESULT + json.dumps([asdict(r) for r in results]), flush=True)
            return 0
        if "memory" in here:
            source_cpu = source_cost(opts)
        if opts.curve:
            curve = cost_curve(opts, Path(home))
    if later:
        results += _postgres(opts)
    block = render(results, opts, source_cpu, curve)
    print(block)
    if opts.output is not None:
        write_block(opts.output, START, END, block)
        print(f"bench: ingest results written to {opts.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
