"""Building the wheel from the checkout and installing it into fresh virtualenvs outside it,
as a user would: ``pip install tickwire`` (the client) or ``'tickwire[server]'``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.servers import ROOT

PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]


def run(*args: object, timeout: float = 300, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, **kw)  # fmt: skip


def build_wheel(tmp: Path) -> Path:
    """The wheel of a copy of the package (the checkout's build/ and egg-info left out)."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "tickwire", src / "tickwire",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    built = run(*PIP, "wheel", "-q", "--no-deps", "-w", tmp / "dist", src, cwd=tmp,
                env=environ(tmp))  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("tickwire-*.whl")
    return wheel


def make_venv(where: Path, wheel: Path, extras: str = "") -> Path:
    """A fresh virtualenv at ``where`` with ``wheel`` (and ``extras``, e.g. "server")
    installed at the tested versions (constraints.txt); returns its directory."""
    run(sys.executable, "-m", "venv", "--without-pip", where).check_returncode()
    spec = f"tickwire[{extras}] @ {wheel.as_uri()}" if extras else str(wheel)
    # Away from the checkout and its PYTHONPATH: a tickwire.egg-info there (an editable
    # install's) would read as tickwire already installed, and pip would skip it.
    done = run(*PIP, "--python", where / "bin" / "python", "install", "-q",
               "-c", ROOT / "constraints.txt", spec, cwd=where.parent,
               env=environ(where.parent))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return where


def environ(home: Path, **extra: str) -> dict[str, str]:
    """A user's shell: no checkout on the path, no settings chosen, no address (`make test`
    exports HOST and PORT, which would win over the command's defaults)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TICKWIRE_", "DJANGO_", "DATABASE_", "REALTIME_", "PYTHON"))
        and k not in ("HOST", "PORT", "VIRTUAL_ENV")
    }
    return {**env, "TICKWIRE_HOME": str(home), "PYTHONUNBUFFERED": "1", **extra}


def importable(venv: Path, module: str, cwd: Path) -> bool:
    """Whether ``module`` imports in ``venv``'s Python (run outside the checkout)."""
    done = run(venv / "bin" / "python", "-c", f"import {module}", cwd=cwd, env=environ(cwd))
    return done.returncode == 0


def installed(venv: Path, cwd: Path) -> set[str]:
    """The distribution names installed in ``venv``, lower-case."""
    code = "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'] for d in m.distributions()))"
    done = run(venv / "bin" / "python", "-c", code, cwd=cwd, env=environ(cwd))
    assert done.returncode == 0, done.stderr
    return {line.strip().lower() for line in done.stdout.splitlines() if line.strip()}
