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


def _probe(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([node(), *args], capture_output=True, text=True, timeout=60)


@functools.cache
def node_command() -> tuple[str, ...]:
    """``node`` with the flags that let it run the client: a global WebSocket (a flag on
    Node 20/21, built in from 22), and ``tickwire-client.js`` imported as an ES module.

    The static file has no package.json beside it saying ``"type": "module"`` (the npm
    package, which has one, ships a copy); Node 20.19+/22.12+ sees its ``export``s and loads
    it as a module anyway, and earlier Node 20/22 do so with ``--experimental-detect-module``.
    Node 18 can do neither: this fails naming the version needed.
    """
    flags: list[str] = []
    if _probe(["-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"]).returncode:
        flags.append("--experimental-websocket")
    load = ["--input-type=module", "-e", f"await import({CLIENT_SOURCE.as_uri()!r});"]
    if _probe(load).returncode:
        flags.append("--experimental-detect-module")
    probe = _probe([*flags, *load])
    version = _probe(["--version"]).stdout.strip()
    assert probe.returncode == 0, (
        f"node {version} cannot run {CLIENT_SOURCE.name} as an ES module with a WebSocket "
        f"(needs Node >= 20.10; install a newer nodejs):\n{probe.stderr[-2000:]}"
    )
    return (node(), *flags)


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
