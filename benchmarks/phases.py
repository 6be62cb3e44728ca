"""Repeated saturation phases of one server, each reported on its own, CPU split in two.

``make bench`` keeps the best of a few saturation phases; this shows all of them, which
is what to look at when a ratio moves between runs::

    .venv/bin/python -m benchmarks.phases tickwire --clients 1000 --repeat 5 --seconds 3
    .venv/bin/python -m benchmarks.phases raw --clients 1000 --repeat 5 --seconds 3

Per phase: delivered updates/s, server user and system CPU per delivered update, how
busy each core was, and delivered / (published x clients) (below 1 when updates were
conflated or lost). The server runs on core 0, the load generator on core 1, as in
``make bench``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from .common import cpu_times, raise_nofile
from .harness import Proc, free_port
from .run import ALL_SERVERS, server_args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.phases", description=__doc__)
    parser.add_argument("server", choices=[s for s in ALL_SERVERS if s != "tickwire-redis"])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    opts = parser.parse_args(argv)
    if opts.clients < 1 or opts.repeat < 1 or opts.seconds <= 0:
        parser.error("--clients, --repeat and --seconds must be positive")
    raise_nofile()
    cores = (0, 1) if len(os.sched_getaffinity(0)) >= 2 else (None, None)
    logs = Path(tempfile.mkdtemp(prefix="tickwire-phases-"))
    port = free_port()
    workdir = Path(tempfile.mkdtemp(dir=logs))
    server = Proc(opts.server, server_args(opts.server, port, workdir, "memory://"), logs, cores[0])
    loadgen: Proc | None = None
    try:
        server.expect("ready", timeout=120)
        loadgen = Proc("loadgen", ["-m", "benchmarks.loadgen"], logs, cores[1])
        loadgen.expect("ready")
        url = f"ws://127.0.0.1:{port}/ws/realtime/"
        held = int(loadgen.ask(f"connect {url} {opts.clients}", "connected", 300)["ok"])
        time.sleep(0.5)
        for i in range(opts.repeat):
            server.ask("rate max", "ok")
            time.sleep(0.5)
            loadgen.ask("reset", "ok")
            pub0 = server.ask("stats", "stats")["published"]
            (u0, s0), (lu0, ls0), t0 = (
                cpu_times(server.pid),
                cpu_times(loadgen.pid),
                time.monotonic(),
            )
            time.sleep(opts.seconds)
            rep = loadgen.ask("report", "report")
            (u1, s1), (lu1, ls1), t1 = (
                cpu_times(server.pid),
                cpu_times(loadgen.pid),
                time.monotonic(),
            )
            pub1 = server.ask("stats", "stats")["published"]
            server.ask("rate 0", "ok")
            n, dt = rep["updates"], t1 - t0
            if n:
                print(
                    f"{opts.server} phase {i + 1}: {n / rep['seconds']:>9,.0f} updates/s  "
                    f"server user {(u1 - u0) / n * 1e6:5.2f} + system {(s1 - s0) / n * 1e6:5.2f}"
                    f" µs/update  server core {(u1 - u0 + s1 - s0) / dt:.0%}, client core "
                    f"{(lu1 - lu0 + ls1 - ls0) / dt:.0%}  delivered/published "
                    f"{n / max((pub1 - pub0) * held, 1):.3f}",
                    flush=True,
                )
            else:
                print(f"{opts.server} phase {i + 1}: nothing delivered", flush=True)
            time.sleep(1.0)
            loadgen.ask("report", "report")
    finally:
        if loadgen is not None:
            loadgen.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
