"""Bars benchmark: what rolling up 1-minute bars at query time costs, and writing demo history.

``python -m benchmarks.bars`` (also run by ``make bench``). On a fresh SQLite database in a
temporary directory it writes ``--days`` days of 1-minute bars for one asset and then,
best of ``--repeat``:

- every interval of ``GET /api/assets/<symbol>/bars/`` with its default range, through
  Django's test client (URL routing, query, rollup, serialization), as a ratio against the
  baseline measured in the same run: a 1m request that returns the same number of stored
  bars. That baseline is what reading stored rollups would cost, so the ratio is the
  price of rolling up at query time instead;
- writing 15 x 2,880 demo bars with the demo history's ``executemany`` upsert, against
  ``save_bars`` (the ORM's ``bulk_create``) writing the same bars.

Figures are ratios within one run; the machine's load moves the absolute times. The
results go between the ``bench:bars`` markers of BENCHMARKS.md (or ``--output``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import write_block

ROOT = Path(__file__).resolve().parent.parent
START = "<!-- bench:bars:start -->"
END = "<!-- bench:bars:end -->"


def _setup(home: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tickwire.settings.local"
    os.environ["TICKWIRE_HOME"] = str(home)
    os.environ["DATABASE_URL"] = f"sqlite:///{home / 'db.sqlite3'}"
    os.environ.setdefault("TICKWIRE_SIMULATOR_SEED", "1")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(days: int, repeat: int) -> str:
    """Run the cases; return the Markdown block (without markers)."""
    from django.test import Client
    from django.utils.dateparse import parse_datetime

    from tickwire.assets.bars import save_bars
    from tickwire.assets.demo import DEMO_ASSETS, write_demo_history
    from tickwire.assets.models import PriceBar
    from tickwire.portfolios.demo import add_demo_data

    add_demo_data()
    now = time.time()
    write_demo_history(days, symbols=["AAPL"], now=now)
    client = Client(HTTP_HOST="127.0.0.1")
    minutes = PriceBar.objects.filter(asset__symbol="AAPL", interval="1m").count()
    end = int(now // 60 * 60)
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, SQLite, Python "
        f"{sys.version.split()[0]}; {minutes:,} 1-minute bars of one asset ({days} days); "
        f"best of {repeat}.",
        "",
        "| interval (default range) | bars | 1-minute rows read | ms | baseline: 1m request "
        "for as many stored bars, ms | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for interval in ("1m", "5m", "15m", "1h", "1d"):
        url = f"/api/assets/AAPL/bars/?interval={interval}&end={end}"
        body = client.get(url).json()
        count = body["count"]
        seconds = _best(lambda url=url: client.get(url), repeat)
        last = end - 60  # the newest stored minute
        base_url = f"/api/assets/AAPL/bars/?interval=1m&start={last - (count - 1) * 60}&end={last}"
        assert client.get(base_url).json()["count"] == count, "baseline bars missing"
        base = _best(lambda u=base_url: client.get(u), repeat)
        rows = PriceBar.objects.filter(
            asset__symbol="AAPL",
            interval="1m",
            start__gte=parse_datetime(body["start"]),
            start__lte=parse_datetime(body["end"]),
        ).count()
        lines.append(
            f"| {interval} | {count:,} | {rows:,} | {seconds * 1000:.1f} | "
            f"{base * 1000:.1f} | {seconds / base:.2f}x |"
        )

    written = write_demo_history(2, now=now)
    fast = _best(lambda: write_demo_history(2, now=now), repeat)
    symbols = [spec.symbol for spec in DEMO_ASSETS]
    bars = _demo_bars(symbols, now)
    slow = _best(lambda: save_bars(bars, merge=False), repeat)
    lines += [
        "",
        f"Demo history, {written:,} bars ({len(symbols)} assets x 2 days), into a database "
        f"that holds them already (the upsert path): demo history writer {fast:.2f} s "
        f"(walk included) vs `save_bars` {slow:.2f} s (bars given) — "
        f"{slow / fast:.1f}x faster.",
    ]
    return "\n".join(lines)


def _demo_bars(symbols: list[str], now: float) -> list[object]:
    from asgiref.sync import async_to_sync
    from django.conf import settings

    from tickwire.assets.models import Asset
    from tickwire.stream.feeds import Bar, Instrument, SimulatorSource

    assets = Asset.objects.filter(symbol__in=symbols)
    instruments = [Instrument(a.symbol, float(a.current_price or 1), kind=a.kind) for a in assets]
    source = SimulatorSource(instruments, seed=settings.TICKWIRE_SIMULATOR_SEED)
    end = int(now // 60 * 60)

    async def collect() -> list[Bar]:
        out: list[Bar] = []
        for inst in instruments:
            async for page in source.history_pages(inst.symbol, 60, end - 2 * 86400, end):
                out.extend(page)
        return out

    return list(async_to_sync(collect)())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bars", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--days", type=int, default=30, help="days of 1-minute bars (30)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per case, best kept (5)")
    parser.add_argument("--output", type=Path, help="Markdown file with the bars markers")
    opts = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if opts.days < 1 or opts.repeat < 1:
        parser.error("--days and --repeat must be at least 1")
    with tempfile.TemporaryDirectory(prefix="tickwire-bench-bars-") as home:
        _setup(Path(home))
        block = measure(opts.days, opts.repeat)
    print(block)
    if opts.output is not None:
        write_block(opts.output, START, END, block)
        print(f"bench: bars results written to {opts.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
