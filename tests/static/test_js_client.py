"""Runs the JavaScript client's unit tests (``tickwire_client.test.mjs``) with Node's runner.

Node is part of the test toolchain (scripts/install-system-deps.sh installs ``nodejs``), so
a missing ``node`` is a failure, not a skip. The tests import the static file itself, the
one the browser loads (and the npm package ships: ``test_js_package.py``).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.static.node import node_command, run

HERE = Path(__file__).resolve().parent


def test_javascript_client_unit_tests_pass() -> None:
    proc = run(
        [*node_command(), "--test", "--test-reporter=tap", str(HERE / "tickwire_client.test.mjs")],
        HERE,
        timeout=120,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    passed = re.search(r"^# pass (\d+)$", output, re.MULTILINE)
    failed = re.search(r"^# fail (\d+)$", output, re.MULTILINE)
    assert passed and failed, output[-2000:]
    # The suite really ran (a runner that finds nothing exits 0 as well).
    assert int(passed.group(1)) >= 25 and int(failed.group(1)) == 0, output[-2000:]
