"""Node.js and npm for the JavaScript client's tests: found on PATH, or a failure that says
how to get them (Node is part of the test toolchain, so a missing one is not a skip)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from tests.servers import ROOT

#: The client's one source: the static file Django serves, and the npm package ships.
CLIENT_SOURCE = ROOT / "tickwire" / "static" / "tickwire" / "tickwire-client.js"
#: The npm package built from it.
PACKAGE = ROOT / "clients" / "js"


def node() -> str:
    found = shutil.which("node")
    assert found, "node is not installed: run scripts/install-system-deps.sh"
    return found


def npm() -> str:
    found = shutil.which("npm")
    assert found, "npm is not installed: run scripts/install-system-deps.sh"
    return found


@functools.cache
def node_command() -> tuple[str, ...]:
    """``node``, with the flag that gives Node 20/21 its WebSocket (global from 22 on)."""
    probe = subprocess.run(
        [node(), "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"],
        capture_output=True,
        timeout=30,
    )
    return (node(),) if probe.returncode == 0 else (node(), "--experimental-websocket")


def require_module_detection() -> None:
    """The tests import the client's ``.js`` (which has no package.json beside it saying
    ``"type": "module"``) as Node 20.19+/22.12+ does: it sees ``export`` and loads an ES
    module. An older Node fails with a SyntaxError; say what to upgrade instead."""
    probe = subprocess.run(
        [
            node(),
            "--input-type=module",
            "-e",
            f"await import({CLIENT_SOURCE.as_uri()!r});",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    version = subprocess.run(
        [node(), "--version"], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    assert probe.returncode == 0, (
        f"node {version} cannot import {CLIENT_SOURCE.name} as an ES module "
        f"(needs Node >= 20.19 or >= 22.12):\n{probe.stderr[-2000:]}"
    )


def tsc() -> list[str]:
    """The package's pinned TypeScript compiler (clients/js/package-lock.json)."""
    path = PACKAGE / "node_modules" / "typescript" / "bin" / "tsc"
    assert path.is_file(), (
        "TypeScript is not installed for clients/js: run `make test`, or `npm ci` in clients/js"
    )
    return [node(), str(path)]


def run(
    args: list[str], cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run to completion (bounded), output captured."""
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
