"""The Node.js peer: the npm ``ws`` library's broadcast (``node_ws/server.js``).

This launcher only prepares and then *becomes* the node process (``os.execv``): the pid
the harness pinned and reads CPU time from is node's, and every thread node starts
inherits the pinning and the raised open-file limit. It passes the raw peer's message
size, so both send frames of the same length.

Node is ``$TICKWIRE_NODE`` or ``node`` on PATH (Debian's ``nodejs``); ``ws`` comes from
``npm ci`` in ``node_ws/`` (``make bench`` and ``make bench-quick`` run it).
"""

from __future__ import annotations

import argparse
import os
import sys

import orjson

from benchmarks.common import padding_for, raise_nofile, update_data
from benchmarks.node_ws import NODE_WS_DIR, node_binary, node_ws_unavailable

SERVER_JS = NODE_WS_DIR / "server.js"


def raw_message_bytes() -> int:
    """Length of the raw peer's first ``asset_update`` (``raw_server.publish``)."""
    data = update_data(1)
    data["pad"] = padding_for(orjson.dumps)
    sample = {
        "type": "asset_update",
        "data": data,
        "timestamp": "2024-01-15T10:30:00.000Z",
        "seq": 1,
    }
    return len(orjson.dumps(sample))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    problem = node_ws_unavailable()
    node = node_binary()
    if problem is not None or node is None:
        sys.exit(f"node-ws: {problem}")
    raise_nofile()
    argv = [node, str(SERVER_JS), "--port", str(args.port), "--bytes", str(raw_message_bytes())]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(node, argv)


if __name__ == "__main__":
    main()
