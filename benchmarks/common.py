"""What every benchmark process shares: the update payload, limits, /proc readings."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The symbol every client subscribes to (one symbol: the worst case for fan-out).
SYMBOL = "AAPL"
#: Delivered message size the issue's reference measurements used.
MESSAGE_BYTES = 238

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def update_data(seq: int) -> dict[str, Any]:
    """The ``data`` of one ``asset_update``; ``ts`` (publish time, epoch seconds) comes last
    so a client can read it without parsing the whole message."""
    price = 190.0 + (seq % 1000) / 100.0
    return {
        "symbol": SYMBOL,
        "price": price,
        "change": 2.5,
        "change_percent": 1.3333,
        "volume": 50_000_000 + seq,
        "high": 201.0,
        "low": 189.5,
        "previous_close": 187.5,
        "currency": "USD",
        "pad": "",
        "ts": time.time(),
    }


def pad_to_size(encoded_size: int) -> str:
    """Padding that makes a message of ``encoded_size`` bytes exactly MESSAGE_BYTES long."""
    return "x" * max(0, MESSAGE_BYTES - encoded_size)


def padding_for(
    encode: Callable[[dict[str, Any]], str | bytes],
    timestamp: str = "2024-01-15T10:30:00.000Z",
) -> str:
    """Padding that brings a peer's ``asset_update``, serialised with its own ``encode``
    (spacing differs between encoders), to MESSAGE_BYTES."""
    sample = encode(
        {"type": "asset_update", "data": update_data(1), "timestamp": timestamp, "seq": 1}
    )
    return pad_to_size(len(sample) + 4)


def raise_nofile() -> int:
    """Raise the open-file limit as far as allowed; returns the new soft limit.

    One socket is one file descriptor. As root the hard limit itself is raised (to
    ``fs.nr_open``); otherwise the soft limit goes up to the hard one.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        with open("/proc/sys/fs/nr_open") as f:
            ceiling = int(f.read())
    except (OSError, ValueError):
        ceiling = 1 << 20
    for target in (ceiling, hard):
        if target == resource.RLIM_INFINITY or target <= soft:
            continue
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(target, hard)))
            return target
        except (ValueError, OSError):
            continue
    return soft


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU time of process ``pid`` (all threads) from /proc, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / _CLK_TCK, int(fields[12]) / _CLK_TCK


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all threads) from /proc."""
    return sum(cpu_times(pid))


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid``."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def write_block(path: Path, start: str, end: str, block: str) -> None:
    """Put ``block`` between the ``start`` and ``end`` markers of the Markdown file ``path``
    (appended, markers and all, when they are missing; a new file gets a title)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    marked = f"{start}\n{block}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + marked + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + marked + "\n"
    path.write_text(text)
