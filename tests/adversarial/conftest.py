"""The adversarial suite: hostile input, protocol conformance, storms, slow readers, faults.

Everything runs against real processes on loopback ports (tests/servers.py, tests/infra.py).
The default run keeps each test to seconds; tests marked ``soak`` run the same scenarios
longer and larger (``make soak``). Figures are printed in the terminal summary.
"""

from __future__ import annotations

import json

import pytest

from tests.adversarial.figures import FIGURES, figures_path
from tests.servers import ServerProcess


@pytest.fixture(scope="module")
def tickwire_server(tmp_path_factory):
    """A real server (embedded default: memory broker, simulated feed, demo data)."""
    srv = ServerProcess(tmp_path_factory.mktemp("adversarial")).start()
    yield srv
    srv.stop()


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    terminalreporter.section("adversarial figures")
    for name, text in FIGURES:
        terminalreporter.write_line(f"{name}: {text}")
    path = figures_path()
    if path:
        with open(path, "w") as fh:
            json.dump([{"name": n, "figure": t} for n, t in FIGURES], fh, indent=1)
