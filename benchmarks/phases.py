"""Repeated saturation phases of one server, each reported on its own, CPU split in two.

``make bench`` keeps the best of a few saturation phases; this shows all of them, which
is what to look at when a ratio moves between runs::

    .venv/bin/python -m benchmarks.phases tickwire --clients 1000 --repeat 5 --seconds 3
    .venv/bin/python -m benchmarks.phases raw --clients 1000 --repeat 5 --seconds 3

Per phase: delivered updates/s, server user and system CPU per delivered update, how
busy each core was, and delivered / offered (offered is published x clients; below 1
when updates were conflated or lost). The server runs on core 0, the load generator on
core 1, as in ``make bench``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from .common import raise_nofile
from .harness import Proc, free_port
from .run import ALL_SERVERS, drain, run_phase, server_args


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
            p = run_phase("saturation", None, server, loadgen, held, opts.seconds, 0.5)
            if p.cpu_us is not None and p.user_us is not None:
                print(
                    f"{opts.server} phase {i + 1}: {p.delivered:>9,.0f} updates/s  "
                    f"server user {p.user_us:5.2f} + system {p.cpu_us - p.user_us:5.2f}"
                    f" µs/update  server core {p.cpu_us * 1e-6 * p.delivered:.0%}, client "
                    f"core {p.client_cpu:.0%}  delivered/offered {p.delivered / p.offered:.3f}",
                    flush=True,
                )
            else:
                print(f"{opts.server} phase {i + 1}: nothing delivered", flush=True)
            drain(loadgen, 1.0)
    finally:
        if loadgen is not None:
            loadgen.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
