"""Valuation benchmark: the incremental book against ``value_portfolio`` + ``as_data``.

``python -m benchmarks.valuation [--quick]`` (also run by ``make bench``). In one process
pinned to one core, without Django or I/O, it holds ``--portfolios`` portfolios of 20
positions over 500 symbols (a fifth quoted in EUR, JPY or GBP, and a fifth of the
portfolios valued in EUR, so conversions go through EUR-USD, USD-JPY and GBP-USD) and runs:

- throttled windows: ``--ticks`` ticks spread over the symbols and the FX pairs (5,000, a
  second of the feed at 5,000/s), then one ``flush``, as a valuer with a 1 s throttle
  would. Valuations/s is portfolios emitted per CPU second of ``set_price`` + ``flush``;
  a window under 1 CPU second keeps up with the feed;
- flat out: a flush after every tick, so each tick revalues only its holders (the
  incremental best case), valuations/s as above;
- the baseline, in the same run on the same core: ``value_portfolio(...).as_data()`` for a
  sample of the emitted portfolios at the same prices, each checked equal to the book's;
- memory: RSS growth while the portfolios are added, per portfolio.

Speed is a ratio within one run; the machine's load moves the absolute figures. The results
go between the ``bench:valuation`` markers of BENCHMARKS.md (or ``--output``).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
from collections.abc import Hashable
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.common import write_block
from tickwire.portfolios.book import ValuationBook
from tickwire.portfolios.valuation import (
    FxPair,
    Holding,
    Price,
    parse_fx_symbol,
    to_decimal,
    value_portfolio,
)

START = "<!-- bench:valuation:start -->"
END = "<!-- bench:valuation:end -->"
SYMBOLS = 500
POSITIONS = 20
FX_PRICES = {"EUR-USD": 1.1642, "USD-JPY": 152.845, "GBP-USD": 1.27031}
FX_DECIMALS = {"EUR-USD": 5, "USD-JPY": 3, "GBP-USD": 5}


def _pairs() -> list[FxPair]:
    return [pair for s in FX_PRICES if (pair := parse_fx_symbol(s)) is not None]


def _currency(index: int) -> str:
    if index % 10 == 0:
        return "EUR"
    if index % 25 == 1:
        return "JPY"
    if index % 50 == 3:
        return "GBP"
    return "USD"


def _portfolio(key: int) -> tuple[str, list[Holding]]:
    rng = random.Random(key)
    holdings = [
        Holding(
            f"S{index:03d}",
            Decimal(rng.randint(1, 100_000)).scaleb(-rng.choice((0, 2, 4))),
            Decimal(rng.randint(100, 100_000)).scaleb(-2),
            _currency(index),
        )
        for index in rng.sample(range(SYMBOLS), POSITIONS)
    ]
    return ("EUR" if key % 5 == 0 else "USD"), holdings


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Feed:
    """Random-walk prices: stocks in cents (whole yen), FX pairs in their own decimals."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.decimals = {f"S{i:03d}": 0 if _currency(i) == "JPY" else 2 for i in range(SYMBOLS)}
        self.decimals.update(FX_DECIMALS)
        self.steps: dict[str, int] = {}
        for symbol, decimals in self.decimals.items():
            start = FX_PRICES.get(symbol) or self.rng.uniform(5, 900) * (
                150 if decimals == 0 else 1
            )
            self.steps[symbol] = round(start * 10**decimals)
        self.previous = {s: self.price(s) for s in self.decimals}
        self.symbols = list(self.decimals)

    def price(self, symbol: str) -> float:
        decimals = self.decimals[symbol]
        return round(self.steps[symbol] / float(10**decimals), decimals)

    def tick(self) -> tuple[str, float, float]:
        symbol = self.rng.choice(self.symbols)
        self.steps[symbol] = max(1, self.steps[symbol] + self.rng.randint(-5, 5))
        return symbol, self.price(symbol), self.previous[symbol]


def measure(portfolios: int, ticks: int, windows: int, flat: int, sample: int) -> str:
    """Run the cases; return the Markdown block (without markers)."""
    avail = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {avail[-1]})
    feed = Feed(1)
    book = ValuationBook(_pairs())
    for symbol in feed.symbols:
        book.set_price(symbol, feed.price(symbol), feed.previous[symbol])
    gc.collect()
    rss = _rss()
    for key in range(portfolios):
        currency, holdings = _portfolio(key)
        book.add_portfolio(key, currency, holdings)
    book.flush()
    gc.collect()
    per_portfolio = (_rss() - rss) / portfolios
    gc.freeze()  # the book is long-lived: keep the collector off its millions of objects

    window_rates, window_cpu, emitted = [], [], 0
    last: dict[Hashable, dict[str, Any]] = {}
    for _ in range(windows):
        moves = [feed.tick() for _ in range(ticks)]
        started = time.process_time()
        for symbol, price, prev in moves:
            book.set_price(symbol, price, prev)
        last = book.flush()
        took = time.process_time() - started
        emitted = len(last)
        window_cpu.append(took)
        window_rates.append(emitted / took)

    moves = [feed.tick() for _ in range(flat)]
    flat_emitted = 0
    started = time.process_time()
    for symbol, price, prev in moves:
        book.set_price(symbol, price, prev)
        flat_emitted += len(book.flush())
    flat_rate = flat_emitted / (time.process_time() - started)

    prices = {
        s: Price(to_decimal(feed.price(s)), to_decimal(feed.previous[s])) for s in feed.decimals
    }
    pairs = _pairs()
    keys = random.Random(2).sample(range(portfolios), min(sample, portfolios))
    cases = [_portfolio(key) for key in keys]
    started = time.process_time()
    reference = [value_portfolio(c, h, prices, pairs).as_data() for c, h in cases]
    base_rate = len(cases) / (time.process_time() - started)
    for key, want in zip(keys, reference, strict=True):
        if book.data(key) != want:
            raise AssertionError(f"portfolio {key}: the book differs from value_portfolio")
    gc.unfreeze()

    best = max(window_rates)
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python "
        f"{sys.version.split()[0]}, one core; {portfolios:,} portfolios x {POSITIONS} "
        f"positions over {SYMBOLS} symbols + {len(FX_PRICES)} FX pairs; "
        f"{len(keys):,} sampled portfolios checked equal to `value_portfolio`.",
        "",
        "| case | valuations/s (CPU) | vs `value_portfolio`+`as_data` |",
        "|---|---|---|",
        f"| `value_portfolio` + `as_data` (baseline, 20 positions) | {base_rate:,.0f} | 1.0x |",
        f"| book, {ticks:,} ticks then one flush (1 s throttle), best of {windows}: "
        f"{emitted:,} portfolios emitted, {min(window_cpu):.2f}-{max(window_cpu):.2f} CPU s "
        f"per window | {best:,.0f} | {best / base_rate:.1f}x |",
        f"| book, flush after every tick ({flat:,} ticks, {flat_emitted:,} emitted) | "
        f"{flat_rate:,.0f} | {flat_rate / base_rate:.1f}x |",
        "",
        f"Memory: {per_portfolio / 1024:.1f} KiB RSS per portfolio held "
        f"({per_portfolio * portfolios / 2**20:,.0f} MiB for {portfolios:,}).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.valuation", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="10,000 portfolios, one window")
    parser.add_argument("--portfolios", type=int, help="portfolios held (100,000; quick 10,000)")
    parser.add_argument("--ticks", type=int, default=5000, help="ticks per 1 s window (5,000)")
    parser.add_argument("--windows", type=int, help="throttle windows, best kept (3; quick 1)")
    parser.add_argument("--flat", type=int, help="ticks flushed one by one (200; quick 50)")
    parser.add_argument("--sample", type=int, help="baseline portfolios (5,000; quick 1,000)")
    parser.add_argument("--output", type=Path, help="Markdown file with the valuation markers")
    opts = parser.parse_args(sys.argv[1:] if argv is None else argv)
    quick = opts.quick
    portfolios = opts.portfolios if opts.portfolios is not None else (10_000 if quick else 100_000)
    windows = opts.windows if opts.windows is not None else (1 if quick else 3)
    flat = opts.flat if opts.flat is not None else (50 if quick else 200)
    sample = opts.sample if opts.sample is not None else (1_000 if quick else 5_000)
    if min(portfolios, windows, flat, sample, opts.ticks) < 1:
        parser.error("--portfolios, --ticks, --windows, --flat and --sample must be at least 1")
    block = measure(portfolios, opts.ticks, windows, flat, sample)
    print(block)
    if opts.output is not None:
        write_block(opts.output, START, END, block)
        print(f"bench: valuation results written to {opts.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
