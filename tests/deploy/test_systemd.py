"""The systemd units: `systemd-analyze verify` is silent about them, and they are hardened."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
INSTALLED = "/opt/tickwire/venv/bin/tickwire"


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    assert found, "systemd-analyze is missing: run scripts/install-system-deps.sh"
    return found


def installed_here(unit: Path, into: Path) -> Path:
    """The unit as it would run from an install: ``ExecStart``'s documented path
    (/opt/tickwire/venv) replaced by this environment's ``tickwire`` command, which
    `systemd-analyze verify` requires to exist. Nothing else changes."""
    text = unit.read_text()
    assert text.count(f"ExecStart={INSTALLED} ") == 1, unit.name
    here = Path(sys.executable).parent / "tickwire"
    assert here.exists(), "the tickwire command is not installed in this environment"
    target = into / unit.name
    target.write_text(text.replace(INSTALLED, str(here)))
    return target


@pytest.mark.parametrize("name", ["tickwire@.service", "tickwire-feed.service"])
def test_systemd_analyze_verify_is_silent(name, tmp_path):
    unit = installed_here(UNITS / name, tmp_path)
    done = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == "", done.stderr


def test_verify_would_report_a_misspelt_directive(tmp_path):
    unit = installed_here(UNITS / "tickwire-feed.service", tmp_path)
    unit.write_text(unit.read_text().replace("ProtectSystem=", "ProtectSytem="))
    done = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", str(unit)], capture_output=True, text=True
    )
    assert "Unknown key" in done.stderr


@pytest.mark.parametrize("name", ["tickwire@.service", "tickwire-feed.service"])
def test_hardened_with_a_dedicated_user_and_a_restart_policy(name, tmp_path):
    text = (UNITS / name).read_text()
    for line in (
        "User=tickwire",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "Restart=always",
        "EnvironmentFile=/etc/tickwire/tickwire.env",
        "KillSignal=SIGTERM",
    ):
        assert line in text.splitlines(), f"{name}: {line}"
    # systemd's own exposure score (0 safest, 10 unsafe): below 2.5 ("OK").
    unit = installed_here(UNITS / name, tmp_path)
    done = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--threshold=25", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout[-2000:]


def test_one_node_per_port_instance():
    text = (UNITS / "tickwire@.service").read_text()
    assert f"ExecStart={INSTALLED} serve --host 127.0.0.1 --port %i" in text
    feed = (UNITS / "tickwire-feed.service").read_text()
    assert f"ExecStart={INSTALLED} feed" in feed
