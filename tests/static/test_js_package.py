"""The JavaScript client as an npm package (``clients/js/``), used the way its users use it:
``npm pack`` builds the tarball, a fresh project installs it offline, Node imports it and
streams from a real server, and TypeScript checks a typed example against its declarations
(and rejects a file of mistakes, so the declarations are not ``any``).

``make test`` installs the package's pinned TypeScript (``npm ci`` in clients/js).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import tickwire
from tests.servers import ServerProcess
from tests.static.node import CLIENT_SOURCE, PACKAGE, node_command, npm, run, tsc

EXAMPLES = PACKAGE / "examples"


def npm_env(tmp: Path) -> dict[str, str]:
    """npm with its own cache and no calls home: installing a local tarball needs neither."""
    return {
        **os.environ,
        "npm_config_cache": str(tmp / "npm-cache"),
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
    }


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``npm pack``: its prepack step builds dist/ from the static file (type-checking it)."""
    tsc()  # fails with what to run when the build tools are missing
    out = tmp_path_factory.mktemp("npm-pack")
    proc = run([npm(), "pack", "--pack-destination", str(out)], PACKAGE, env=npm_env(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (packed,) = out.glob("*.tgz")
    return packed


@pytest.fixture(scope="module")
def project(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new project that installed the tarball, offline (the package has no dependencies)."""
    root = tmp_path_factory.mktemp("npm-project")
    manifest = {"name": "tickwire-client-user", "private": True, "type": "module"}
    (root / "package.json").write_text(json.dumps(manifest))
    proc = run(
        [npm(), "install", "--offline", "--no-audit", "--no-fund", str(tarball)],
        root,
        env=npm_env(root),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return root


def test_package_version_is_the_python_packages() -> None:
    manifest = json.loads((PACKAGE / "package.json").read_text())
    lock = json.loads((PACKAGE / "package-lock.json").read_text())
    assert manifest["version"] == tickwire.__version__
    assert lock["version"] == lock["packages"][""]["version"] == tickwire.__version__


def test_tarball_ships_the_static_file_unchanged_with_its_declarations(tarball: Path) -> None:
    with tarfile.open(tarball) as tar:
        names = sorted(tar.getnames())
        assert names == [
            "package/README.md",
            "package/dist/tickwire-client.d.ts",
            "package/dist/tickwire-client.js",
            "package/package.json",
        ]
        shipped = tar.extractfile("package/dist/tickwire-client.js")
        declarations = tar.extractfile("package/dist/tickwire-client.d.ts")
        assert shipped is not None and declarations is not None
        # The browser's /static/ file and the package's module are one code, byte for byte.
        assert shipped.read() == CLIENT_SOURCE.read_bytes()
        types = declarations.read().decode()
    assert tarball.name == f"tickwire-client-{tickwire.__version__}.tgz"
    assert "export class TickwireClient" in types
    assert "export type AssetUpdateData = {" in types
    assert "on<K extends string>(event: K, callback: Listener<K>): () => void;" in types


@pytest.fixture(scope="module")
def typecheck(project: Path) -> subprocess.CompletedProcess[str]:
    """``tsc --noEmit`` (examples/tsconfig.json) over the typed example and the file of
    mistakes together, in the project that installed the tarball: one compiler run."""
    for name in ("usage.ts", "misuse.ts"):
        shutil.copy(EXAMPLES / name, project / name)
    config = json.loads(_strip_comments((EXAMPLES / "tsconfig.json").read_text()))
    assert config["compilerOptions"]["noEmit"] is True
    config["files"] = ["usage.ts", "misuse.ts"]
    (project / "tsconfig.json").write_text(json.dumps(config))
    return run([*tsc(), "-p", str(project / "tsconfig.json")], project)


def _errors(output: str, file: str) -> set[tuple[int, str]]:
    pattern = rf"^{re.escape(file)}\((\d+),\d+\): error (TS\d+)"
    return {(int(line), code) for line, code in re.findall(pattern, output, re.M)}


def test_typed_example_compiles_against_the_installed_declarations(
    typecheck: subprocess.CompletedProcess[str],
) -> None:
    output = typecheck.stdout + typecheck.stderr
    assert typecheck.stdout.strip(), "tsc reported nothing: the mistakes were not checked"
    # Every error is one of the deliberate mistakes: none in usage.ts, none in the setup
    # (an unresolved "tickwire-client", a bad option) that has no file.
    others = [line for line in output.splitlines() if "error TS" in line]
    others = [line for line in others if not line.startswith("misuse.ts(")]
    assert others == [], output[-4000:]


def test_misuse_fails_with_exactly_the_marked_errors(
    typecheck: subprocess.CompletedProcess[str],
) -> None:
    source = (EXAMPLES / "misuse.ts").read_text()
    # Each `// error TSnnnn` comment names the error expected on the line below it.
    expected = {
        (number + 1, match.group(1))
        for number, line in enumerate(source.splitlines(), start=1)
        if (match := re.match(r"\s*// error (TS\d+)", line))
    }
    assert len(expected) >= 5
    assert typecheck.returncode != 0, "the mistakes compiled: the declarations are too loose"
    assert _errors(typecheck.stdout, "misuse.ts") == expected, typecheck.stdout[-4000:]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path).start()
    try:
        yield srv
    finally:
        srv.stop()


STREAM_SCRIPT = """\
import { TickwireClient } from "tickwire-client";

const [url, symbol] = process.argv.slice(2);
const client = new TickwireClient({ url, heartbeatInterval: 0 });
const states = [];
client.on("state", ({ state }) => states.push(state));
client.on("asset_update", (data, message) => {
  const module = import.meta.resolve("tickwire-client");
  console.log(JSON.stringify({ module, states, data, seq: message.seq }));
  client.close();
});
client.subscribe([symbol]);
client.connect();
// Bounded: a client that never gets an update fails instead of hanging the test.
setTimeout(() => {
  console.error(`no asset_update within 30 s; states: ${states.join(" ")}`);
  process.exit(1);
}, 30000).unref();
"""


@pytest.mark.e2e
def test_installed_package_streams_asset_updates_from_a_server(
    project: Path, server: ServerProcess
) -> None:
    (project / "stream.mjs").write_text(STREAM_SCRIPT)
    proc = subprocess.Popen(
        [*node_command(), "stream.mjs", server.ws_url, "aapl"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err[-3000:] + server.log()
    row = json.loads(out.strip().splitlines()[-1])
    # Node imported the installed package, not the checkout's file.
    assert (
        row["module"]
        == (project / "node_modules" / "tickwire-client" / "dist" / "tickwire-client.js").as_uri()
    )
    assert row["states"][:2] == ["connecting", "open"]
    data = row["data"]
    assert data["symbol"] == "AAPL"  # the client upper-cases what it subscribes
    assert isinstance(data["price"], int | float) and data["price"] > 0
    assert isinstance(row["seq"], int) and row["seq"] >= 0
    with urllib.request.urlopen(server.url + "/api/assets/AAPL/", timeout=10) as response:
        asset = json.load(response)
    assert data["currency"] == asset["currency"]


def _strip_comments(text: str) -> str:
    """tsconfig.json allows // comments; JSON does not."""
    return re.sub(r"^\s*//.*$", "", text, flags=re.M)
