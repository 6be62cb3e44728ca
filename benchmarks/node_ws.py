"""The ``node-ws`` peer's place in the benchmark: can it run here, and its target row.

The peer itself is ``benchmarks/servers/node_ws/server.js`` (Node.js, npm ``ws``) started
through :mod:`benchmarks.servers.node_ws_server`. Its target is judged like the raw
limit's: on server CPU time per delivered update (updates per server CPU-second), which a
shared machine hardly moves, with delivered/s beside it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .run import Result

__all__ = ["NODE_WS_DIR", "TARGET", "node_binary", "node_ws_target", "node_ws_unavailable"]

NODE_WS_DIR = Path(__file__).resolve().parent / "servers" / "node_ws"
TARGET = (
    "Tickwire ≥ 1.0x node-ws updates per server CPU-second, unbatched, at 1,000 and 10,000 clients"
)
#: The client counts the target names.
CLIENTS = (1000, 10000)


def node_binary() -> str | None:
    """The node executable: ``$TICKWIRE_NODE``, else ``node`` on PATH; None if neither."""
    return os.environ.get("TICKWIRE_NODE") or shutil.which("node")


def node_ws_unavailable() -> str | None:
    """Why the node-ws peer cannot start here, as a sentence naming the fix; None if it can."""
    if node_binary() is None:
        return "node not found: install Debian's nodejs (`make sysdeps`) or set TICKWIRE_NODE"
    if not (NODE_WS_DIR / "node_modules" / "ws" / "package.json").is_file():
        return f"the ws package is not installed: run `npm ci` in {NODE_WS_DIR} (`make bench` does)"
    return None


def node_ws_target(
    get: Callable[[str, int], Result | None],
) -> tuple[str, str, bool | None]:
    """The target row (target, measured, met; met None when nothing was measured) from
    ``get(server, clients)``, the run's result of one server at one client count."""
    parts: list[str] = []
    met: list[bool] = []
    for clients in CLIENTS:
        tw, node = get("tickwire", clients), get("node-ws", clients)
        sat = tw.phases.get("saturation") if tw else None
        nsat = node.phases.get("saturation") if node else None
        if not (sat and nsat and sat.cpu_us and nsat.cpu_us and nsat.delivered):
            parts.append(f"{clients:,}: not measured")
            continue
        by_cpu = nsat.cpu_us / sat.cpu_us
        met.append(by_cpu >= 1.0)
        parts.append(
            f"{clients:,}: {by_cpu:.2f}x per server CPU-second ({sat.cpu_us:.1f} vs "
            f"{nsat.cpu_us:.1f} µs per update, of which user {sat.user_us or 0:.2f} vs "
            f"{nsat.user_us or 0:.2f}); {sat.delivered / nsat.delivered:.2f}x in delivered/s"
        )
    return TARGET, "; ".join(parts), (all(met) if met else None)
