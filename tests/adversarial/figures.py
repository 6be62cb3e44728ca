"""Figures the adversarial suite measures (sizes, times, latencies, memory), reported
at the end of the run rather than asserted: they depend on the machine.

Tests call :func:`report`; the suite's ``conftest.py`` prints every figure in pytest's
terminal summary and, when ``TICKWIRE_FIGURES`` names a file, writes them there as JSON.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

FIGURES: list[tuple[str, str]] = []


def report(name: str, text: str) -> None:
    """Record one figure, e.g. ``report("connection storm", "2000 clients in 1.9 s")``."""
    FIGURES.append((name, text))


def describe_latencies(values_ms: Sequence[float]) -> str:
    """``n=…, p50=…, p99=…, max=…`` of latencies in milliseconds."""
    if not values_ms:
        return "n=0"
    ordered = sorted(values_ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"n={len(ordered)}, p50={statistics.median(ordered):.1f} ms, "
        f"p99={p99:.1f} ms, max={ordered[-1]:.1f} ms"
    )


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux ``/proc``)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def figures_path() -> str | None:
    return os.environ.get("TICKWIRE_FIGURES") or None
